// `ferry run <pipeline> [--once]` in a child process a test can SIGKILL, without the CLI package: the
// pipeline file is loaded and assembled by core, with the sftp source (its built dist) and the test-only
// `crashing-file` checkpoint store registered.
import { assemblePipeline, createLogger, createRegistry, loadPipelineFile, runPipeline } from '@ferry/core';
import { sftpSourceFactory } from '@ferry/sftp';
import { crashingCheckpointFactory } from './crashing-checkpoints.mjs';

const [file, ...flags] = process.argv.slice(2);
const registry = createRegistry();
registry.sources.set(sftpSourceFactory.type, sftpSourceFactory);
registry.checkpoints.set(crashingCheckpointFactory.type, crashingCheckpointFactory);
const logger = createLogger();
try {
  const pipeline = await loadPipelineFile(file, registry);
  const options = await assemblePipeline(pipeline, registry, { logger, once: flags.includes('--once') });
  const summary = await runPipeline(options);
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} catch (error) {
  process.stderr.write(`${error?.code ?? 'ERROR'}: ${error?.message ?? String(error)}\n`);
  process.exitCode = 1;
}

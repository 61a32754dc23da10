// Shared by the `ferry serve` tests: start the built CLI and wait for its admin API, and an SFTP court-list
// pipeline on the test sshd in a fresh upload folder.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliResult, cliBin, startNode, waitFor } from '../../../../examples/quickstart/test/cli.js';
import { services } from '../../../../test/services/endpoints.js';

export interface Served {
  /** `http://127.0.0.1:<port>` of the admin API. */
  base: string;
  /** Everything written to stderr so far (the JSON logs). */
  stderr(): string;
  /** SIGTERM, then the finished process. */
  stop(): Promise<CliResult>;
  /** Another signal (SIGKILL: a worker that dies), then the finished process. */
  kill(signal: NodeJS.Signals): Promise<CliResult>;
  /** The process id (SIGSTOP/SIGCONT: a worker that hangs and comes back). */
  pid: number;
  /** The finished process, however it ended (one that kills itself, e.g. FERRY_TEST_CRASH). */
  exited: Promise<CliResult>;
}

/**
 * `ferry serve <args>`, resolved once it prints where the admin API listens; killed (SIGKILL) if still
 * running after `timeoutMs`.
 */
export async function startServe(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<Served> {
  const serve = startNode(cliBin, ['serve', ...args], env, timeoutMs);
  let stdout = '';
  let stderr = '';
  serve.child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  serve.child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = async () => {
    serve.child.kill('SIGTERM');
    return serve.done;
  };
  let base = '';
  try {
    await waitFor(
      () => {
        if (serve.child.exitCode !== null) throw new Error(`ferry serve exited: ${stderr}`);
        base = /admin API on (http:\/\/\S+)/.exec(stdout)?.[1] ?? '';
        return base !== '';
      },
      30_000,
      'ferry serve to listen',
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const kill = async (signal: NodeJS.Signals) => {
    serve.child.kill(signal);
    return serve.done;
  };
  return { base, stderr: () => stderr, stop, kill, pid: serve.child.pid!, exited: serve.done };
}

/**
 * A pipeline reading `LIST_*.csv` (columns REF, NAME) from a fresh folder on the test sshd; `extra` is YAML
 * added at the top level (a schedule, expectations) and `sourceExtra` inside `source`.
 */
export async function sftpListPipeline(
  name: string,
  options: { extra?: string; sourceExtra?: string } = {},
): Promise<{ file: string; dir: string; uploadDir: string }> {
  const sftp = services.sftp;
  const folder = `${name}-${randomBytes(4).toString('hex')}`;
  const uploadDir = join(sftp.rootDir, sftp.uploadDir.replace(/^\//, ''), folder);
  await mkdir(uploadDir, { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), `ferry-${name}-`));
  const file = join(dir, 'pipeline.yaml');
  await writeFile(
    file,
    `pipeline: ${name}
source:
  type: sftp
  connection:
    host: ${sftp.host}
    port: ${sftp.port}
    username: ${sftp.username}
    privateKeyPath: ${sftp.privateKeyPath}
    knownHosts: ${sftp.knownHostsPath}
  paths: [${sftp.uploadDir}/${folder}/LIST_*.csv]
  stability: { mode: rename }
  format: { type: csv }
  key: [REF]
  afterProcessing: leave
${options.sourceExtra ?? ''}
mapping:
  subject: ref
  fields:
    ref: { from: REF, required: true }
    name: NAME
contract: { type: test.hearing, version: 1.0.0 }
sink: { type: file, dir: ./events }
deadLetters: { type: file, dir: ./dead-letters }
checkpoints: { type: file, dir: ./checkpoints }
${options.extra ?? ''}
`,
  );
  return { file, dir, uploadDir };
}

/** Upload a CSV as the listing system does: written as .tmp, then renamed. */
export async function uploadList(uploadDir: string, name: string, rows: number, from = 1): Promise<void> {
  const lines = ['REF,NAME'];
  for (let i = 0; i < rows; i += 1) lines.push(`H${from + i},Defendant ${from + i}`);
  await writeFile(join(uploadDir, `${name}.tmp`), `${lines.join('\n')}\n`);
  await rename(join(uploadDir, `${name}.tmp`), join(uploadDir, name));
}

/**
 * A cluster-ready pipeline file's text: table `table` (id, name) of `./legacy.sqlite` polled into Kafka topic
 * `topic` (dead letters in `<topic>.dlq`), checkpoints in `checkpointTopic` with fencing. `source` and
 * `extra` add YAML inside `source` and at the top level; `sink` inside the sink's map.
 */
export function sqliteClusterPipeline(options: {
  name: string;
  table: string;
  topic: string;
  checkpointTopic: string;
  source?: string;
  sink?: string;
  extra?: string;
}): string {
  const brokers = services.kafka.brokers.join(', ');
  return `pipeline: ${options.name}
source:
  type: database
  mode: polling
  connection: { type: better-sqlite3, database: ./legacy.sqlite }
  tables:
    - { name: ${options.table}, key: [id], incrementingColumn: id }
${options.source ?? '  pollIntervalMs: 200'}
mapping:
  subject: id
  fields:
    id: id
    name: name
contract: { type: test.${options.table}, version: 1.0.0 }
${options.extra ?? ''}
sink: { type: kafka, brokers: [${brokers}], topic: ${options.topic}${options.sink ? `, ${options.sink}` : ''} }
deadLetters: { type: kafka, brokers: [${brokers}], topic: ${options.topic}.dlq }
checkpoints: { type: kafka, brokers: [${brokers}], topic: ${options.checkpointTopic}, fencing: true }
`;
}

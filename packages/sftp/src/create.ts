// Building an SFTP source from its options: the source class and, with it, the SSH client and the file
// parsers. The factory (factory.ts) imports this module only when a pipeline builds a source.
import { ConfigError, formatPath, type Source } from '@ferry/core/sdk';
import { type SftpSourceConfig, type SftpSourceConfigInput, sftpSourceConfigSchema } from './config.js';
import type { SftpPosition } from './position.js';
import { SftpSource, type SftpSourceContext } from './source.js';

/** Validate options (defaults applied) and build the source. */
export function createSftpSource(
  config: SftpSourceConfigInput,
  context: SftpSourceContext = {},
): Source<SftpPosition> {
  const parsed = sftpSourceConfigSchema.safeParse(config);
  if (!parsed.success) {
    throw new ConfigError(
      undefined,
      parsed.error.issues.map((issue) => ({
        path: formatPath(['source', ...issue.path]),
        message: issue.message,
      })),
    );
  }
  return new SftpSource(parsed.data, context);
}

/** The source for options already validated, defaults applied. */
export function buildSftpSource(config: SftpSourceConfig, context: SftpSourceContext): Source<SftpPosition> {
  return new SftpSource(config, context);
}

// The SFTP source's entry points: the factory the CLI registers under `type: sftp`, and a function for
// programs that build a pipeline in code.
import {
  ConfigError,
  defineFactory,
  definePlugin,
  formatPath,
  PLUGIN_API_VERSION,
  type Source,
} from '@ferry/core/sdk';
import {
  defaultStreamName,
  type SftpSourceConfig,
  type SftpSourceConfigInput,
  sftpSourceConfigSchema,
} from './config.js';
import { type SftpPosition, sftpPositionSchema } from './position.js';
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

export function sftpSourceNotes(config: SftpSourceConfig): string[] {
  const notes: string[] = [];
  if (config.stream === undefined)
    notes.push(
      `stream '${defaultStreamName(config.paths[0]!)}' (from the first path's folder; set stream: to name it, e.g. to keep the event ids of a pipeline that ran with another default)`,
    );
  if (config.connection.legacyAlgorithms !== undefined)
    notes.push('legacy SSH algorithms are enabled: use them only for a server that offers nothing newer');
  if (config.stability.mode === 'rename')
    notes.push(
      `stability by rename: every file not matching ignore (${config.ignore.join(', ')}) is read at once`,
    );
  if (config.afterProcessing === 'leave')
    notes.push(
      'afterProcessing leave: processed files stay; the registry in stateDir keeps them from being read again',
    );
  if (
    config.rejectThreshold !== undefined ||
    (config.format.type === 'fixed-width' && config.format.trailerCountField)
  )
    notes.push('whole-file checks (rejectThreshold / trailer count) parse each file twice');
  if (config.mode === 'full-extract')
    notes.push(
      'full-extract: the previous extract is kept in stateDir; deleting it makes the next file a fresh snapshot (read events)',
    );
  if (config.businessKey !== undefined)
    notes.push(
      `corrected files: a file whose name matches ${config.businessKey.pattern} is diffed against the last file with the same business key; other names are rejected` +
        (config.order === 'name'
          ? ' (order: name — make sure versions sort in delivery order, or use order: mtime)'
          : ''),
    );
  return notes;
}

export const sftpSourceFactory = defineFactory({
  type: 'sftp',
  description: 'Batch files (CSV, fixed-width, JSON Lines) dropped on an SFTP server, one event per row.',
  configSchema: sftpSourceConfigSchema,
  positionSchema: sftpPositionSchema,
  create: (config, ctx): Source<SftpPosition> => new SftpSource(config, ctx),
  notes: sftpSourceNotes,
});

/** The plugin manifest (the sftp source): how the CLI, and any host, registers this package. */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/sftp',
  sources: [sftpSourceFactory],
});

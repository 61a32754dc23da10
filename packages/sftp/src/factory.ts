// The SFTP source's plugin manifest: the factory the CLI registers under `type: sftp`, with its options,
// positions and notes. Light on purpose: the source itself, with the SSH client and the parsers, is imported
// (create.ts) when a pipeline builds one.
import { defineFactory, definePlugin, PLUGIN_API_VERSION, type Source } from '@ferry/core/sdk';
import { defaultStreamName, type SftpSourceConfig, sftpSourceConfigSchema } from './config.js';
import { type SftpPosition, sftpPositionSchema } from './position.js';

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
  create: async (config, ctx): Promise<Source<SftpPosition>> =>
    (await import('./create.js')).buildSftpSource(config, ctx),
  notes: sftpSourceNotes,
});

/** The plugin manifest (the sftp source): how the CLI, and any host, registers this package. */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/sftp',
  sources: [sftpSourceFactory],
});

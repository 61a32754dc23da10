// The SOAP source's plugin manifest: the factory the CLI registers under `type: soap`, with its options,
// positions and notes. Light on purpose: the sources, with the SOAP client, are imported (create.ts) when a
// pipeline builds one.
import { defineFactory, definePlugin, PLUGIN_API_VERSION } from '@ferry/core/sdk';
import { type SoapSourceConfig, soapSourceConfigSchema } from './config.js';
import { soapPositionSchema } from './positions.js';

/** What a person should know before trusting this configuration; `ferry validate` prints these. */
export function soapSourceNotes(config: SoapSourceConfig): string[] {
  const notes = [
    'records are read as text: numbers, booleans and dates arrive as strings; convert them in the mapping',
  ];
  if (config.mode === 'watermark') {
    notes.push(
      `watermark mode cannot see deletes, and marks every record op 'update' (SOAP answers do not say whether a record is new)`,
      `the checkpoint moves to the highest ${config.watermark.field} only after the last page; if the service compares {{since}} with >=, records at that exact watermark are read again (same event ids, harmless)`,
    );
  } else {
    notes.push(
      `snapshot mode lists every record each pass; the last committed pass is kept in ${config.stateDir}, and deleting it makes the next pass a fresh snapshot (read events)`,
      'snapshot: a record missing from a pass (even through a paging glitch of the service) is emitted as deleted',
    );
  }
  if (config.pagination.type === 'none') {
    notes.push('pagination none: one call returns every record of a pass; mind maxResponseBytes');
  }
  if (config.security === undefined) notes.push('no security configured: calls are anonymous');
  if (config.security?.type === 'basic' && /^http:/i.test(config.endpoint ?? config.wsdl)) {
    notes.push('basic authentication over plain http sends the password readable on the wire');
  }
  return notes;
}

export const soapSourceFactory = defineFactory({
  type: 'soap',
  description:
    'Polls a SOAP operation (WSDL, SOAP 1.1/1.2, WS-Security) in one of two modes: `watermark` (what changed since the last watermark) or `snapshot` (every record each pass, compared with the last pass: creates, updates and deletes). Large answers are streamed.',
  configSchema: soapSourceConfigSchema,
  positionSchema: soapPositionSchema,
  create: async (config, ctx) => (await import('./create.js')).buildSoapSource(config, ctx),
  notes: soapSourceNotes,
});

/** The plugin manifest (the soap source): how the CLI, and any host, registers this package. */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/soap',
  sources: [soapSourceFactory],
});

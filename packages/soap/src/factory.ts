// The SOAP source's entry points: the factory the CLI registers under `type: soap`, and a function for
// programs that build a pipeline in code.
import { runSchedule } from '@ferry/core';
import { type Factory, parseComponentOptions, type Source } from '@ferry/core/sdk';
import { type SoapSourceConfig, type SoapSourceConfigInput, soapSourceConfigSchema } from './config.js';
import { type SoapSnapshotPosition, SoapSnapshotSource } from './snapshot.js';
import { type SoapSourceContext, type SoapWatermarkPosition, SoapWatermarkSource } from './watermark.js';

export type SoapPosition = SoapWatermarkPosition | SoapSnapshotPosition;

function build(
  config: SoapSourceConfig,
  context: SoapSourceContext & { pipeline?: string },
): Source<SoapPosition> {
  return (
    config.mode === 'snapshot'
      ? new SoapSnapshotSource(config, context)
      : new SoapWatermarkSource(config, context)
  ) as Source<SoapPosition>;
}

/** Validate options (defaults applied) and build the source for their mode. */
export function createSoapSource(
  config: SoapSourceConfigInput,
  context: SoapSourceContext & { pipeline?: string } = {},
): Source<SoapPosition> {
  const parsed = parseComponentOptions(soapSourceConfigSchema, config, 'source');
  // A bad cron expression or time zone fails here, not at the first pass.
  runSchedule(context.schedule, parsed.pollIntervalMs);
  return build(parsed, context);
}

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
      `snapshot mode lists every record each pass; the previous pass is kept in ${config.stateDir}, and deleting it makes the next pass a fresh snapshot (read events)`,
      'snapshot: a record missing from a pass (even through a paging glitch of the service) is emitted as deleted',
    );
  }
  if (config.pagination.type === 'none') {
    notes.push('pagination none: one call returns every change since the watermark; mind maxResponseBytes');
  }
  if (config.security === undefined) notes.push('no security configured: calls are anonymous');
  if (config.security?.type === 'basic' && /^http:/i.test(config.endpoint ?? config.wsdl)) {
    notes.push('basic authentication over plain http sends the password readable on the wire');
  }
  return notes;
}

export const soapSourceFactory: Factory<SoapSourceConfig, Source> = {
  type: 'soap',
  description:
    'Polls a SOAP operation (WSDL, SOAP 1.1/1.2, WS-Security) by watermark, streaming large answers.',
  configSchema: soapSourceConfigSchema,
  create: (config, ctx) => {
    runSchedule(ctx.schedule, config.pollIntervalMs);
    return build(config, {
      baseDir: ctx.baseDir,
      logger: ctx.logger,
      pipeline: ctx.pipeline,
      ...(ctx.schedule ? { schedule: ctx.schedule } : {}),
    });
  },
  notes: soapSourceNotes,
};

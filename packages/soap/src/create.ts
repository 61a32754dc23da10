// Building a SOAP source from its options: the classes of both modes and, with them, the SOAP client. The
// factory (factory.ts) imports this module only when a pipeline builds a source.
import { parseComponentOptions, type Source, type SourceContext } from '@ferry/core/sdk';
import { type SoapSourceConfig, type SoapSourceConfigInput, soapSourceConfigSchema } from './config.js';
import type { SoapPosition } from './positions.js';
import { SoapSnapshotSource } from './snapshot.js';
import { SoapWatermarkSource } from './watermark.js';

/** The source for options already validated, defaults applied. */
export function buildSoapSource(config: SoapSourceConfig, context: SourceContext): Source<SoapPosition> {
  return config.mode === 'snapshot'
    ? new SoapSnapshotSource(config, context)
    : new SoapWatermarkSource(config, context);
}

/** Validate options (defaults applied) and build the source for their mode. */
export function createSoapSource(
  config: SoapSourceConfigInput,
  context: SourceContext = {},
): Source<SoapPosition> {
  return buildSoapSource(parseComponentOptions(soapSourceConfigSchema, config, 'source'), context);
}

// Public API of @ferry/soap: the source factory, its options, the client and its errors.
export {
  redactUrl,
  type SoapCallOptions,
  type SoapCallResult,
  SoapClient,
  type SoapClientOptions,
} from './client.js';
export {
  type SoapConnectionConfig,
  type SoapConnectionConfigInput,
  type SoapSecurityConfig,
  type SoapSnapshotConfig,
  type SoapSourceConfig,
  type SoapSourceConfigInput,
  type SoapWatermarkConfig,
  soapConnectionSchema,
  soapSourceConfigSchema,
} from './config.js';
export { createSoapSource } from './create.js';
export {
  classifySoapError,
  type HttpStatusFailure,
  parseRetryAfter,
  SoapError,
  type SoapErrorCode,
  SoapErrorCodes,
  type SoapErrorContext,
  type SoapFaultFailure,
} from './errors.js';
export { ferryPlugin, soapSourceFactory, soapSourceNotes } from './factory.js';
export {
  type SoapPosition,
  type SoapSnapshotPosition,
  type SoapWatermarkPosition,
  soapPositionSchema,
  soapSnapshotPositionSchema,
  soapWatermarkPositionSchema,
} from './positions.js';
export { SoapSnapshotSource } from './snapshot.js';
export {
  compareWatermarks,
  SoapWatermarkSource,
  sortableWatermark,
  type WatermarkValue,
} from './watermark.js';
export type { XmlObject, XmlValue } from './xml.js';

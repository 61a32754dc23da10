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
export {
  createSoapSource,
  ferryPlugin,
  type SoapPosition,
  soapPositionSchema,
  soapSourceFactory,
  soapSourceNotes,
} from './factory.js';
export { type SoapSnapshotPosition, SoapSnapshotSource, soapSnapshotPositionSchema } from './snapshot.js';
export {
  compareWatermarks,
  type SoapWatermarkPosition,
  SoapWatermarkSource,
  soapWatermarkPositionSchema,
  sortableWatermark,
  type WatermarkValue,
} from './watermark.js';
export type { XmlObject, XmlValue } from './xml.js';

// Public API of @ferry/sftp: the source factory, its options, its positions and its errors.
export {
  type CsvFormat,
  defaultStreamName,
  type FixedWidthFormat,
  type SftpConnectionConfig,
  type SftpSourceConfig,
  type SftpSourceConfigInput,
  sftpSourceConfigSchema,
} from './config.js';
export { createSftpSource } from './create.js';
export {
  classifySftpError,
  SftpError,
  type SftpErrorCode,
  SftpErrorCodes,
  type SftpErrorContext,
} from './errors.js';
export { ferryPlugin, sftpSourceFactory, sftpSourceNotes } from './factory.js';
export { sftpSessionStats } from './internal/sessions.js';
export { type SftpPosition, sftpPositionSchema } from './position.js';
export { SftpSource, type SftpSourceContext } from './source.js';

// Public API of @ferry/api: the read API over canonical entities, its configuration and its store.
export { type Collection, collectionsOf, type FilterField } from './collections.js';
export {
  type ApiConfig,
  apiConfigSchema,
  collectionPath,
  type EntityConfig,
  type LoadedApiConfig,
  loadApiConfig,
} from './config.js';
export {
  ConsumeError,
  type ConsumeFigures,
  type ConsumeOptions,
  type ConsumeReport,
  cloudEventProblem,
} from './consume.js';
export { consumeFileLog, type FileLogConsumeOptions } from './consume-file.js';
export { consumeKafka, type KafkaConsumeOptions } from './consume-kafka.js';
export { openApiDocument, schemaName } from './openapi.js';
export { ApiErrorCodes, type ApiServerOptions, buildApiServer, type Freshness } from './server.js';
export {
  type ApplyResult,
  EntityStore,
  EntityStoreError,
  entityOf,
  type Filter,
  type Page,
  type StoreConfig,
  type StoredEntity,
  type StoredEntityJson,
} from './store.js';

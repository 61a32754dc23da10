// Public API of @ferry/api: the store a read API serves from.
export {
  type ApplyResult,
  EntityStore,
  EntityStoreError,
  entityOf,
  type Page,
  type StoreConfig,
  type StoredEntity,
} from './store.js';

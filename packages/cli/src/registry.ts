// The only place that knows every connector: factories keyed by the `type` used in pipeline files.
import { createRegistry, type Registry } from '@ferry/core';
import { databaseSourceFactory } from '@ferry/database';

export function defaultRegistry(): Registry {
  const registry = createRegistry();
  registry.sources.set(databaseSourceFactory.type, databaseSourceFactory);
  return registry;
}

// The only place that knows every built-in connector. Each connector package exports its plugin manifest
// (`ferryPlugin`) and is registered through the same checks as a third-party plugin; a pipeline file adds
// its own plugins when it is loaded (`loadPipelineFile`).
import { createContractValidator, loadContractRepository } from '@ferry/contracts';
import { createRegistry, type Registry, registerPlugin } from '@ferry/core';
import { ferryPlugin as databasePlugin } from '@ferry/database';
import { ferryPlugin as kafkaPlugin } from '@ferry/kafka';
import { ferryPlugin as sftpPlugin } from '@ferry/sftp';
import { ferryPlugin as soapPlugin } from '@ferry/soap';

/** The built-in connector plugins, in registration order. */
export const builtInPlugins = [databasePlugin, sftpPlugin, soapPlugin, kafkaPlugin] as const;

export function defaultRegistry(): Registry {
  const registry = createRegistry();
  for (const plugin of builtInPlugins) registerPlugin(registry, plugin);
  registry.contractValidator = async (contract) =>
    createContractValidator(
      await loadContractRepository(contract.repository!),
      contract.type,
      contract.version,
    );
  return registry;
}

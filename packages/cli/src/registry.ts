// The only place that knows every built-in connector. Each connector package exports its plugin manifest
// (`ferryPlugin`) and is registered through the same checks as a third-party plugin; a pipeline file adds
// its own plugins when it is loaded (`loadPipelineFile`). Each manifest is light (`@ferry/<package>/plugin`):
// a connector's implementation, and the libraries it needs, are imported only when a pipeline builds it.
import { createRegistry, type Registry, registerPlugin } from '@ferry/core';
import { ferryPlugin as databasePlugin } from '@ferry/database/plugin';
import { ferryPlugin as kafkaPlugin } from '@ferry/kafka/plugin';
import { ferryPlugin as sftpPlugin } from '@ferry/sftp/plugin';
import { ferryPlugin as soapPlugin } from '@ferry/soap/plugin';
import { ferryPlugin as webhooksPlugin } from '@ferry/webhooks/plugin';

/** The built-in connector plugins, in registration order. */
export const builtInPlugins = [databasePlugin, sftpPlugin, soapPlugin, kafkaPlugin, webhooksPlugin] as const;

export function defaultRegistry(): Registry {
  const registry = createRegistry();
  for (const plugin of builtInPlugins) registerPlugin(registry, plugin);
  // @ferry/contracts (and ajv with it) is imported only by a pipeline that names a contract repository.
  registry.contractValidator = async (contract) => {
    const { createContractValidator, loadContractRepository } = await import('@ferry/contracts');
    return createContractValidator(
      await loadContractRepository(contract.repository!),
      contract.type,
      contract.version,
    );
  };
  return registry;
}

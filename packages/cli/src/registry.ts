// The only place that knows every connector: factories keyed by the `type` used in pipeline files.
import { createContractValidator, loadContractRepository } from '@ferry/contracts';
import { createRegistry, type Registry } from '@ferry/core';
import { databaseSourceFactory } from '@ferry/database';
import { kafkaCheckpointFactory, kafkaDeadLetterFactory, kafkaSinkFactory } from '@ferry/kafka';
import { sftpSourceFactory } from '@ferry/sftp';
import { soapSourceFactory } from '@ferry/soap';

export function defaultRegistry(): Registry {
  const registry = createRegistry();
  registry.sources.set(databaseSourceFactory.type, databaseSourceFactory);
  registry.sinks.set(kafkaSinkFactory.type, kafkaSinkFactory);
  registry.deadLetters.set(kafkaDeadLetterFactory.type, kafkaDeadLetterFactory);
  registry.checkpoints.set(kafkaCheckpointFactory.type, kafkaCheckpointFactory);
  registry.sources.set(sftpSourceFactory.type, sftpSourceFactory);
  registry.sources.set(soapSourceFactory.type, soapSourceFactory);
  registry.contractValidator = async (contract) =>
    createContractValidator(
      await loadContractRepository(contract.repository!),
      contract.type,
      contract.version,
    );
  return registry;
}

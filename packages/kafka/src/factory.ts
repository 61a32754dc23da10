// Registry factories for `sink.type`, `deadLetters.type` and `checkpoints.type: kafka`, and the start-up
// check that refuses a contradictory combination (exactly-once needs the dead letters and the checkpoint in
// the same Kafka cluster, written in the sink's transactions). Light on purpose: the sink and the stores, and
// the Kafka client with them, are imported (create.ts) when a pipeline builds one.
import {
  type CheckpointStore,
  type ConfigIssue,
  type DeadLetterSink,
  defineFactory,
  definePlugin,
  type FactoryContext,
  type Logger,
  type PipelineComponents,
  PLUGIN_API_VERSION,
  type Sink,
} from '@ferry/core/sdk';
import {
  type KafkaSinkConfig,
  kafkaCheckpointConfigSchema,
  kafkaDeadLetterConfigSchema,
  kafkaSinkConfigSchema,
} from './config.js';

export interface KafkaFactoryOptions {
  pipeline: string;
  logger: Logger;
  /** Every component of the pipeline file, for the exactly-once checks. */
  components?: PipelineComponents;
  /** The name commits carry with fencing (FactoryContext.worker). */
  worker?: string;
}

/** Problems with a Kafka sink configuration given the pipeline's other components (empty when fine). */
export function checkKafkaDelivery(config: KafkaSinkConfig, components?: PipelineComponents): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (config.delivery !== 'exactly-once') return issues;
  if (config.transport !== 'kafkajs') {
    issues.push({
      path: 'sink.transport',
      message:
        'delivery exactly-once needs transport kafkajs (the platformatic transport has no transactions)',
    });
  }
  if (!components) {
    issues.push({ path: 'sink.delivery', message: 'exactly-once needs to know the other components' });
    return issues;
  }
  const sameCluster = (options: Record<string, unknown>) =>
    JSON.stringify([...((options.brokers as string[] | undefined) ?? [])].sort()) ===
    JSON.stringify([...config.brokers].sort());
  for (const section of ['deadLetters', 'checkpoints'] as const) {
    const component = components[section];
    if (component.type !== 'kafka') {
      issues.push({
        path: `${section}.type`,
        message:
          `is '${component.type}', but sink.delivery exactly-once writes ${section === 'deadLetters' ? 'dead letters' : 'the checkpoint'} ` +
          `in the same Kafka transaction as the events: set ${section}.type: kafka (on the same brokers)`,
      });
    } else if (!sameCluster(component.options)) {
      issues.push({
        path: `${section}.brokers`,
        message: 'must be the sink’s brokers: one Kafka transaction cannot span two clusters',
      });
    }
  }
  return issues;
}

/** The sink and the stores, with the Kafka client: imported when a pipeline builds one of them. */
const implementation = () => import('./create.js');

const factoryOptions = (ctx: FactoryContext): KafkaFactoryOptions => ({
  pipeline: ctx.pipeline,
  logger: ctx.logger,
  ...(ctx.components ? { components: ctx.components } : {}),
  ...(ctx.worker !== undefined ? { worker: ctx.worker } : {}),
});

export const kafkaSinkFactory = defineFactory({
  type: 'kafka',
  description: 'Kafka topics through the CloudEvents Kafka binding (kafkajs), at-least-once or exactly-once.',
  configSchema: kafkaSinkConfigSchema,
  create: async (config, ctx): Promise<Sink> =>
    (await implementation()).createKafkaSink(config, factoryOptions(ctx)),
  notes: (config) => {
    const notes = [`topic ${config.topic}, ${config.mode} mode, ${config.delivery}`];
    if (!config.topics.create) notes.push('topics must exist: topics.create is false');
    if (config.delivery === 'exactly-once')
      notes.push('needs deadLetters.type and checkpoints.type kafka on the same brokers');
    return notes;
  },
});

export const kafkaDeadLetterFactory = defineFactory({
  type: 'kafka',
  description: 'Dead letters in a Kafka topic (default <pipeline>.dlq) with error context headers.',
  configSchema: kafkaDeadLetterConfigSchema,
  create: async (config, ctx): Promise<DeadLetterSink> => {
    const sink = (await implementation()).createKafkaDeadLetterSink(config, factoryOptions(ctx));
    // The topic must exist before an exactly-once sink writes into it inside a transaction.
    await sink.provision();
    return sink;
  },
});

export const kafkaCheckpointFactory = defineFactory({
  type: 'kafka',
  description: 'Checkpoints in a compacted Kafka topic keyed by pipeline (default ferry-checkpoints).',
  configSchema: kafkaCheckpointConfigSchema,
  create: async (config, ctx): Promise<CheckpointStore> => {
    const store = (await implementation()).createKafkaCheckpointStore(config, factoryOptions(ctx));
    await store.provision();
    return store;
  },
});

/** The plugin manifest (the kafka sink, dead-letter store and checkpoint store): how the CLI, and any host, registers this package. */
export const ferryPlugin = definePlugin({
  apiVersion: PLUGIN_API_VERSION,
  name: '@ferry/kafka',
  sinks: [kafkaSinkFactory],
  deadLetters: [kafkaDeadLetterFactory],
  checkpoints: [kafkaCheckpointFactory],
});

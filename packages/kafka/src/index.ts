// Public API of @ferry/kafka: the sink, dead-letter and checkpoint factories, their options, the CloudEvents
// binding, the error classifier, and the read-only helpers (a topic's events, the groups consuming topics).
export {
  type BindingMode,
  type ConsumedMessage,
  decodeEvent,
  encodeEvent,
  messageHeaders,
  messageRecord,
  STRUCTURED_CONTENT_TYPE,
} from './binding.js';
export { KafkaCheckpointStore } from './checkpoints.js';
export {
  assignPipelines,
  type ClusterAssignment,
  type PipelineDemand,
  type Unassigned,
  type WorkerBid,
} from './cluster/assign.js';
export {
  type BoardPipeline,
  ClusterBoard,
  type DrainRequest,
  type PlanCard,
  type WorkerCard,
} from './cluster/board.js';
export {
  ClusterMembership,
  type ClusterOptions,
  type ClusterPlan,
  type ClusterView,
  pipelineSetDigest,
} from './cluster/membership.js';
export {
  connectionOf,
  type KafkaCheckpointConfig,
  type KafkaConnectionConfig,
  type KafkaDeadLetterConfig,
  type KafkaSinkConfig,
  type KafkaSinkConfigInput,
  kafkaCheckpointConfigSchema,
  kafkaDeadLetterConfigSchema,
  kafkaSinkConfigSchema,
} from './config.js';
export {
  ConsumerStop,
  type GroupConsumerOptions,
  groupConsumer,
  runGroupConsumer,
} from './consumer.js';
export {
  type KafkaTopicConsumersConfig,
  type KafkaTopicConsumersConfigInput,
  type KafkaTopicConsumersContext,
  kafkaTopicConsumersConfigSchema,
  type TopicConsumer,
  type TopicConsumerPartition,
  type TopicConsumerTopic,
  topicConsumers,
} from './consumers.js';
export { createKafkaCheckpointStore, createKafkaDeadLetterSink, createKafkaSink } from './create.js';
export { dlqTopicName, KafkaDeadLetterSink } from './dead-letters.js';
export { DLQ_HEADERS } from './dlq-headers.js';
export {
  classifyKafkaError,
  KafkaError,
  type KafkaErrorCode,
  KafkaErrorCodes,
  type KafkaErrorContext,
} from './errors.js';
export {
  checkKafkaDelivery,
  ferryPlugin,
  type KafkaFactoryOptions,
  kafkaCheckpointFactory,
  kafkaDeadLetterFactory,
  kafkaSinkFactory,
} from './factory.js';
export {
  type KafkaEventPosition,
  type KafkaTopicReadConfig,
  type KafkaTopicReadConfigInput,
  type KafkaTopicReadContext,
  kafkaTopicReadConfigSchema,
  readKafkaEvents,
} from './reader.js';
export { KafkaSink } from './sink.js';

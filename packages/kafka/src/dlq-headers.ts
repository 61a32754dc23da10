// The headers a dead letter carries in its Kafka topic, for tools that read the topic without Ferry.
export const DLQ_HEADERS = {
  id: 'ferry.dlq.id',
  kind: 'ferry.dlq.kind',
  code: 'ferry.error.code',
  message: 'ferry.error.message',
  retryable: 'ferry.error.retryable',
  pipeline: 'ferry.pipeline',
  stream: 'ferry.stream',
  stage: 'ferry.stage',
  origin: 'ferry.origin',
  attempts: 'ferry.attempts',
  failedAt: 'ferry.failed.at',
} as const;

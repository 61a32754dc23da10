// Public API of @ferry/webhooks: subscriptions, the dispatcher that delivers them, signing, the address guard.

export {
  type SubscriptionConfig,
  type SubscriptionInput,
  selects,
  subscriptionSchema,
} from './config.js';
export { deliverFromKafka, type KafkaDeliveryOptions } from './consume-kafka.js';
export {
  classify,
  type DeliveryObserver,
  type DeliveryStats,
  Dispatcher,
  type DispatcherOptions,
  type Outcome,
} from './dispatcher.js';
export { WebhookError, WebhookErrorCodes } from './errors.js';
export {
  groupOf,
  type LoadedWebhooksFile,
  loadWebhooksFile,
  type WebhooksFile,
  webhooksFileSchema,
} from './file.js';
export {
  type AddressPolicy,
  allowEntryProblem,
  checkEndpoint,
  defaultAddressPolicy,
  guardedLookup,
  isRefusedAddress,
} from './guard.js';
export {
  type SubscriptionStatus,
  WebhooksRunner,
  type WebhooksRunnerOptions,
} from './runner.js';
export {
  generateSecret,
  parseSecret,
  type SignatureHeaders,
  type SignatureInput,
  signatureHeaders,
} from './sign.js';
export { type Answer, Endpoint, retryAfterMs } from './transport.js';

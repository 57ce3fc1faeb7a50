export {
  createSubscriptionHub,
  type SubscriptionHub,
  type SubscriptionHubDeps,
  type AttachOptions,
} from './hub.js'
export { DEFAULT_SUBSCRIPTION_HUB_OPTIONS, type SubscriptionHubOptions } from './options.js'
export type { SubscriptionInfo } from './subscription.js'
export type { EventSink } from './sink.js'

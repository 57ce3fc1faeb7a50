export {
  createSubscriptionHub,
  DEFAULT_SUBSCRIPTION_HUB_OPTIONS,
  type SubscriptionHub,
  type SubscriptionHubDeps,
  type SubscriptionHubOptions,
  type SubscriptionInfo,
  type AttachOptions,
  type EventSink,
} from './hub.js'
export { planSubscription, type QueryPlan } from './matcher.js'

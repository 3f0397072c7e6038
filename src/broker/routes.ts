/**
 * How the broker routes a subscription, stored on it when it is indexed
 * (Subscription.route): one case per destination kind, so code that routes
 * a message is checked by the compiler for every kind.
 */
import type { CompiledPattern } from './pattern.js';

/** /topic/...: by exact destination, or by pattern. */
export interface TopicRoute {
  readonly kind: 'topic';
  readonly pattern: CompiledPattern | null;
}

/** /queue/...: a competing consumer of one queue (never a pattern). */
export interface QueueRoute {
  readonly kind: 'queue';
}

/** /user/...: a destination of the session's own user. */
export interface UserRoute {
  readonly kind: 'user';
  readonly user: string;
  /** Path the user is addressed at, e.g. /queue/x for /user/queue/x. */
  readonly path: string;
  readonly pattern: CompiledPattern | null;
  /** The /user prefix, to build the concrete MESSAGE destination for pattern subscriptions. */
  readonly userPrefix: string;
}

export type SubscriptionRoute = TopicRoute | QueueRoute | UserRoute;

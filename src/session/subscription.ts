import type { Headers } from '../stomp/frame.js';
// The broker's own record on a subscription (a type only: the session layer never reads it).
import type { SubscriptionRoute } from '../broker/routes.js';
import type { Session } from './session.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

export const ACK_MODES: readonly AckMode[] = ['auto', 'client', 'client-individual'];

const NO_HEADERS: Headers = Object.freeze(Object.create(null) as Headers);

/** One SUBSCRIBE of one session. The broker indexes these by destination. */
export class Subscription {
  /** Set by the broker when it indexed the subscription: how it is routed. */
  route: SubscriptionRoute | null = null;
  /**
   * Client ack modes on a /queue: at most this many unacknowledged messages at a time
   * (SUBSCRIBE `prefetch-count`, or ActiveMQ's `activemq.prefetchSize`); 0 = no limit.
   */
  prefetch = 0;
  /** Client ack modes: this subscription's messages awaiting ACK/NACK, in delivery order (see Session.acknowledge). */
  unacked: Map<string, Unacked> | null = null;
  /** Message ids recently delivered on this subscription (made on first use; see Session.deliver). */
  seen: DedupeWindow | null = null;
  /**
   * The SUBSCRIBE frame's headers, for the broker's checks while it subscribes
   * (the authorizeSubscribe hook). Empty once the subscription is in place
   * (see subscribed()): nothing reads them later, and every idle subscription
   * would otherwise keep the frame's header dictionary alive.
   */
  headers: Headers;

  constructor(
    readonly session: Session,
    readonly id: string,
    /** The destination exactly as subscribed (MESSAGE frames echo it for user destinations). */
    readonly destination: string,
    readonly ack: AckMode,
    headers: Headers,
  ) {
    this.headers = headers;
  }

  /** The broker has put the subscription in place: drop what only subscribing needed. */
  subscribed(): void {
    this.headers = NO_HEADERS;
  }
}

/** A message delivered in a client ack mode, awaiting ACK/NACK. */
export interface Unacked {
  readonly ackId: string;
  readonly sub: Subscription;
  readonly delivery: Delivery;
  /** Bytes it holds (its body's backing memory and its header text: acks.ts:heldBytes), counted against limits.maxUnackedBytesPerSession. */
  readonly bytes: number;
}

/** One message handed to a session for one of its subscriptions. */
export interface Delivery {
  /** MESSAGE `message-id`; with `dedupe`, a session never gets the same id twice on one subscription. */
  messageId: string;
  /** MESSAGE `destination` header. */
  destination: string;
  /** Extra MESSAGE headers (content-type, custom headers). */
  headers: Record<string, string>;
  body: Buffer;
  /** Drop it if this session already got this message id on this subscription. */
  dedupe?: boolean;
  /**
   * Client ack modes: called once when the client ACKs (or at write time in auto mode).
   * onNack: called once when the client NACKs, or the session ends with it unacked;
   * `requeue` is false only for a NACK with `requeue:false` (RabbitMQ's header): drop it.
   */
  onAck?: (() => void) | undefined;
  onNack?: ((requeue: boolean) => void) | undefined;
}

/** The last `size` ids, for "a session never gets the same message twice" on one subscription. */
export class DedupeWindow {
  private readonly ids = new Set<string>();
  private readonly ring: string[] = [];
  private head = 0;

  constructor(private readonly size: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ring.length < this.size) {
      this.ring.push(id);
      return;
    }
    this.ids.delete(this.ring[this.head]!);
    this.ring[this.head] = id;
    this.head = (this.head + 1) % this.size;
  }

  /** Forget one id (a NACKed message may legitimately come back). */
  forget(id: string): void {
    this.ids.delete(id);
  }
}

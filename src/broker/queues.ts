/**
 * Point-to-point /queue destinations on this node: competing consumers
 * (round robin), messages kept (bounded) while nobody subscribes, and NACKed
 * or unacked-at-disconnect messages redelivered.
 *
 *  - What waits in a backlog is charged to the node's memory budget (and to
 *    its sender's quota) until it is delivered, or, in a client ack mode,
 *    acknowledged; a message handed straight to a client-ack consumer is
 *    charged from then until its ACK. A SEND that does not fit is refused
 *    (unless an auto-ack consumer takes it at once), so neither the number of
 *    queues a client can make up nor consumers that never ACK bound anything
 *    by themselves. A message that comes back (NACK, consumer gone) or is
 *    dead-lettered keeps the charge it had. Backlogs are
 *    also bounded in depth (the oldest go first, counted in `dropped`) and in
 *    age (swept by `sweep()`, counted in `expired`).
 *  - A consumer in a client ack mode may ask for at most `prefetch`
 *    unacknowledged messages (RabbitMQ's `prefetch-count`); past it, messages
 *    go to other consumers or wait.
 *  - A NACK with `requeue: false` (RabbitMQ's header) drops the message, or
 *    moves it to the dead-letter queue when one is configured.
 */
import type { Subscription } from '../session/subscription.js';
import { type Hold, type MemoryBudget, heldSize, keptBody } from './budget.js';

export interface QueuedMessage {
  id: string;
  destination: string;
  headers: Record<string, string>;
  body: Buffer;
  redelivered: boolean;
}

/** A message with its place in the queue's order (kept when it is redelivered). */
interface Queued extends QueuedMessage {
  seq: number;
  /** Epoch ms it was first enqueued (its age for sweep()). */
  at: number;
  /** Budget charge while the queue or a client-ack consumer holds it (null: delivered to an auto-ack consumer). */
  hold: Hold | null;
  /** Sender key charged for it. */
  sender: string | null;
}

interface QueueState {
  consumers: Subscription[];
  next: number;
  /** Waiting messages, in `seq` order. */
  backlog: Queued[];
}

export interface QueueOptions {
  maxDepth: number;
  /** Backlog messages older than this are dropped by sweep(). */
  maxAgeMs: number;
  budget: MemoryBudget;
  /** Where NACKed messages with `requeue: false` go (a /queue destination), or null to drop them. */
  deadLetter: string | null;
  now?: () => number;
}

/** Header naming where a dead-lettered message was first sent. */
export const DEAD_LETTER_FROM_HEADER = 'x-dead-letter-from';

export class QueueManager {
  private readonly queues = new Map<string, QueueState>();
  /** Unacknowledged messages per consumer subscription, for prefetch limits. */
  private readonly inFlight = new Map<Subscription, number>();
  private seq = 0;
  private readonly now: () => number;
  /** Messages dropped because a queue's backlog was full. */
  dropped = 0;
  /** Messages dropped from a backlog by age. */
  expired = 0;
  /** Messages NACKed with requeue:false (dropped or dead-lettered). */
  rejected = 0;

  constructor(private readonly opts: QueueOptions) {
    this.now = opts.now ?? Date.now;
  }

  depth(destination: string): number {
    return this.queues.get(destination)?.backlog.length ?? 0;
  }

  addConsumer(sub: Subscription): void {
    const q = this.state(sub.destination);
    q.consumers.push(sub);
    this.flush(q);
  }

  removeConsumer(sub: Subscription): void {
    const q = this.queues.get(sub.destination);
    if (!q) return;
    q.consumers = q.consumers.filter((c) => c !== sub);
    this.forgetIfEmpty(sub.destination, q);
  }

  /**
   * A SEND (or server-side publish) to a queue: delivered to a consumer, or
   * kept. Throws the budget's coded refusal when it would have to be kept and
   * does not fit.
   */
  enqueue(msg: QueuedMessage, sender: string | null): void {
    const q = this.state(msg.destination);
    const m: Queued = { ...msg, seq: ++this.seq, at: this.now(), hold: null, sender };
    const size = heldSize(m.body, m.headers, m.destination);
    // Charged before it is offered: a client-ack consumer holds it until its ACK. When it
    // does not fit, only an auto-ack consumer (which holds nothing) may take it.
    m.hold = this.opts.budget.tryHold('queue', sender, size);
    if (this.dispatch(q, m, null)) return;
    if (m.hold === null) {
      try {
        m.hold = this.opts.budget.hold('queue', sender, size); // throws the coded refusal (and counts it)
      } catch (err) {
        this.forgetIfEmpty(m.destination, q);
        throw err;
      }
    }
    m.body = keptBody(m.body);
    this.keep(q, m);
  }

  /** Drop backlog messages older than maxAgeMs. */
  sweep(): void {
    const cutoff = this.now() - this.opts.maxAgeMs;
    for (const [destination, q] of this.queues) {
      const before = q.backlog.length;
      q.backlog = q.backlog.filter((m) => {
        if (m.at >= cutoff) return true;
        m.hold?.release();
        return false;
      });
      this.expired += before - q.backlog.length;
      this.forgetIfEmpty(destination, q);
    }
  }

  /** Add to the backlog in queue order (a redelivered message goes back to its place, not behind newer ones). */
  private keep(q: QueueState, msg: Queued): void {
    // Whatever reaches a backlog is charged: a new message in enqueue(), one that comes
    // back from a client-ack consumer since its delivery, a dead letter by its original.
    const b = q.backlog;
    // Its place by seq: at the end for a new message, by binary search for one coming back.
    let lo = 0;
    let hi = b.length;
    if (hi > 0 && b[hi - 1]!.seq > msg.seq)
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (b[mid]!.seq < msg.seq) lo = mid + 1;
        else hi = mid;
      }
    else lo = hi;
    b.splice(lo, 0, msg);
    if (b.length > this.opts.maxDepth) {
      b.shift()!.hold?.release();
      this.dropped++;
    }
  }

  /**
   * Try each consumer once, round robin. `notFirst` (the consumer that gave
   * the message back) is tried last, so a redelivery goes to another consumer
   * when there is one.
   */
  private dispatch(q: QueueState, msg: Queued, notFirst: Subscription | null): boolean {
    const n = q.consumers.length;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const k = (q.next + i) % n;
      if (q.consumers[k] === notFirst) {
        last = k;
        continue;
      }
      if (this.offer(q, k, msg)) return true;
    }
    return last >= 0 && this.offer(q, last, msg);
  }

  private offer(q: QueueState, k: number, msg: Queued): boolean {
    const sub = q.consumers[k]!;
    const counted = sub.ack !== 'auto';
    // A client-ack consumer holds the message until its ACK: only one that is charged goes there.
    if (counted && msg.hold === null) return false;
    if (counted && sub.prefetch > 0 && (this.inFlight.get(sub) ?? 0) >= sub.prefetch) return false;
    // Held until its ACK: not as a view of the read it came in (which it would pin).
    if (counted) msg.body = keptBody(msg.body);
    let settled = false;
    const settle = (): void => {
      if (settled || !counted) return;
      settled = true;
      const left = (this.inFlight.get(sub) ?? 1) - 1;
      if (left > 0) this.inFlight.set(sub, left);
      else this.inFlight.delete(sub);
    };
    const ok = sub.session.deliver(sub, {
      messageId: msg.id,
      destination: msg.destination,
      headers: msg.redelivered ? { ...msg.headers, redelivered: 'true' } : msg.headers,
      body: msg.body,
      onAck: () => {
        settle();
        msg.hold?.release();
        msg.hold = null;
        this.creditReturned(sub);
      },
      onNack: (requeue) => {
        settle();
        if (requeue) this.requeue({ ...msg, redelivered: true }, sub);
        else this.reject(msg);
        this.creditReturned(sub);
      },
    });
    if (!ok) return false;
    // (auto: the session called onAck as it wrote it, which released any hold.)
    if (counted) this.inFlight.set(sub, (this.inFlight.get(sub) ?? 0) + 1);
    q.next = (k + 1) % q.consumers.length;
    return true;
  }

  /** A consumer with a prefetch limit settled a message: it may take from the backlog again. */
  private creditReturned(sub: Subscription): void {
    if (sub.prefetch === 0) return;
    const q = this.queues.get(sub.destination);
    if (q) this.flush(q);
  }

  private requeue(msg: Queued, from: Subscription): void {
    const q = this.state(msg.destination);
    if (!this.dispatch(q, msg, from)) this.keep(q, msg);
  }

  /** NACK with requeue:false: dead-letter it, or drop it. */
  private reject(msg: Queued): void {
    this.rejected++;
    const hold = msg.hold;
    msg.hold = null;
    const dl = this.opts.deadLetter;
    if (dl === null || dl === msg.destination || hold === null) {
      hold?.release();
      return;
    }
    const headers = { ...msg.headers, [DEAD_LETTER_FROM_HEADER]: msg.headers[DEAD_LETTER_FROM_HEADER] ?? msg.destination };
    const q = this.state(dl);
    const m: Queued = { ...msg, destination: dl, headers, redelivered: false, seq: ++this.seq, at: this.now(), hold };
    // The dead letter keeps the original's charge, grown by what the move added (its header, the longer name).
    const grown = heldSize(m.body, m.headers, m.destination) - heldSize(msg.body, msg.headers, msg.destination);
    if (grown > 0) hold.force(grown);
    if (!this.dispatch(q, m, null)) this.keep(q, m);
  }

  private flush(q: QueueState): void {
    while (q.backlog.length > 0 && q.consumers.length > 0) {
      const msg = q.backlog.shift()!;
      if (!this.dispatch(q, msg, null)) {
        q.backlog.unshift(msg);
        return;
      }
    }
  }

  private forgetIfEmpty(destination: string, q: QueueState): void {
    if (q.consumers.length === 0 && q.backlog.length === 0) this.queues.delete(destination);
  }

  private state(destination: string): QueueState {
    let q = this.queues.get(destination);
    if (!q) {
      q = { consumers: [], next: 0, backlog: [] };
      this.queues.set(destination, q);
    }
    return q;
  }
}

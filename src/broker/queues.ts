/**
 * Point-to-point /queue destinations on this node: competing consumers
 * (round robin), messages kept (bounded) while nobody subscribes, and NACKed
 * or unacked-at-disconnect messages redelivered.
 */
import type { Subscription } from '../session/subscription.js';

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
}

interface QueueState {
  consumers: Subscription[];
  next: number;
  /** Waiting messages, in `seq` order. */
  backlog: Queued[];
}

export class QueueManager {
  private readonly queues = new Map<string, QueueState>();
  private seq = 0;
  /** Messages dropped because a queue's backlog was full. */
  dropped = 0;

  constructor(private readonly maxDepth: number) {}

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
    if (q.consumers.length === 0 && q.backlog.length === 0) this.queues.delete(sub.destination);
  }

  enqueue(msg: QueuedMessage): void {
    const q = this.state(msg.destination);
    const m: Queued = { ...msg, seq: ++this.seq };
    if (!this.dispatch(q, m, null)) this.keep(q, m);
  }

  /** Add to the backlog in queue order (a redelivered message goes back to its place, not behind newer ones). */
  private keep(q: QueueState, msg: Queued): void {
    const b = q.backlog;
    let i = b.length;
    while (i > 0 && b[i - 1]!.seq > msg.seq) i--;
    b.splice(i, 0, msg);
    if (b.length > this.maxDepth) {
      b.shift();
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
    const ok = sub.session.deliver(sub, {
      messageId: msg.id,
      destination: msg.destination,
      headers: msg.redelivered ? { ...msg.headers, redelivered: 'true' } : msg.headers,
      body: msg.body,
      onNack: () => this.requeue({ ...msg, redelivered: true }, sub),
    });
    if (ok) q.next = (k + 1) % q.consumers.length;
    return ok;
  }

  private requeue(msg: Queued, from: Subscription): void {
    const q = this.state(msg.destination);
    if (!this.dispatch(q, msg, from)) this.keep(q, msg);
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

  private state(destination: string): QueueState {
    let q = this.queues.get(destination);
    if (!q) {
      q = { consumers: [], next: 0, backlog: [] };
      this.queues.set(destination, q);
    }
    return q;
  }
}

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

interface QueueState {
  consumers: Subscription[];
  next: number;
  backlog: QueuedMessage[];
}

export class QueueManager {
  private readonly queues = new Map<string, QueueState>();
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
    if (!this.dispatch(q, msg)) this.keep(q, msg, false);
  }

  private keep(q: QueueState, msg: QueuedMessage, front: boolean): void {
    if (front) q.backlog.unshift(msg);
    else q.backlog.push(msg);
    if (q.backlog.length > this.maxDepth) {
      q.backlog.shift();
      this.dropped++;
    }
  }

  /** Try each consumer once, round robin. */
  private dispatch(q: QueueState, msg: QueuedMessage): boolean {
    const n = q.consumers.length;
    for (let i = 0; i < n; i++) {
      const sub = q.consumers[(q.next + i) % n]!;
      const ok = sub.session.deliver(sub, {
        messageId: msg.id,
        destination: msg.destination,
        headers: msg.redelivered ? { ...msg.headers, redelivered: 'true' } : msg.headers,
        body: msg.body,
        onNack: () => this.requeue({ ...msg, redelivered: true }),
      });
      if (ok) {
        q.next = (q.next + i + 1) % n;
        return true;
      }
    }
    return false;
  }

  private requeue(msg: QueuedMessage): void {
    const q = this.state(msg.destination);
    if (!this.dispatch(q, msg)) this.keep(q, msg, true);
  }

  private flush(q: QueueState): void {
    while (q.backlog.length > 0 && q.consumers.length > 0) {
      const msg = q.backlog.shift()!;
      if (!this.dispatch(q, msg)) {
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

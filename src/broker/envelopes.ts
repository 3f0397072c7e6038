/** Envelopes made on this node: a unique id each, this node as origin, no hops yet. */
import type { EventEnvelope, TopicEnvelope, UserEnvelope } from '../cluster/types.js';
import { IdSequence } from './ids.js';

export class Envelopes {
  private readonly ids = new IdSequence();

  constructor(private readonly nodeId: string) {}

  /** A fresh id (also for queue messages, which never leave the node). */
  nextId(): string {
    return this.ids.next();
  }

  // Object literals with every field (not spreads): one is made per message.
  user(user: string, path: string, headers: Record<string, string>, body: Buffer): UserEnvelope {
    return { kind: 'user', user, id: this.ids.next(), destination: path, headers, body, hops: 0, origin: this.nodeId, ts: Date.now() };
  }

  topic(destination: string, headers: Record<string, string>, body: Buffer): TopicEnvelope {
    return { kind: 'topic', id: this.ids.next(), destination, headers, body, hops: 0, origin: this.nodeId, ts: Date.now() };
  }

  event(user: string, event: string): EventEnvelope {
    return { kind: 'event', user, id: this.ids.next(), destination: event, headers: {}, body: Buffer.alloc(0), hops: 0, origin: this.nodeId, ts: Date.now() };
  }
}

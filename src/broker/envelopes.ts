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

  private fields(destination: string, headers: Record<string, string>, body: Buffer) {
    return { id: this.ids.next(), destination, headers, body, hops: 0, origin: this.nodeId, ts: Date.now() };
  }

  user(user: string, path: string, headers: Record<string, string>, body: Buffer): UserEnvelope {
    return { kind: 'user', user, ...this.fields(path, headers, body) };
  }

  topic(destination: string, headers: Record<string, string>, body: Buffer): TopicEnvelope {
    return { kind: 'topic', ...this.fields(destination, headers, body) };
  }

  event(user: string, event: string): EventEnvelope {
    return { kind: 'event', user, ...this.fields(event, {}, Buffer.alloc(0)) };
  }
}

import type { Bus, Envelope, EnvelopeHandler } from '../types.js';

interface Topic {
  /** Messages not yet handled (committed) by the topic's consumer, in order. */
  pending: Envelope[];
  consumer: EnvelopeHandler | null;
  /** True while the consumer is working through `pending`. */
  pumping: boolean;
}

/**
 * State shared by every MemoryBus built on it: one hub = one cluster. Each
 * node has a topic; a message stays pending until its consumer's handler
 * resolved (the memory analogue of a committed offset), so a node that is
 * closed without handling leaves its messages for drainNode().
 */
export class MemoryBusHub {
  readonly topics = new Map<string, Topic>();
  readonly broadcastSubscribers = new Map<string, EnvelopeHandler>();

  topic(nodeId: string): Topic {
    let t = this.topics.get(nodeId);
    if (!t) {
      t = { pending: [], consumer: null, pumping: false };
      this.topics.set(nodeId, t);
    }
    return t;
  }

  pump(t: Topic): void {
    if (t.pumping || !t.consumer) return;
    t.pumping = true;
    void (async () => {
      try {
        while (t.consumer && t.pending.length > 0) {
          const env = t.pending[0]!;
          try {
            await t.consumer(env);
          } catch {
            // The handler failed: keep the message pending (not committed) and stop
            // pumping; it is handed over again on the next pump or to drainNode().
            return;
          }
          if (t.pending[0] === env) t.pending.shift();
        }
      } finally {
        t.pumping = false;
      }
    })();
  }
}

const CLONE = (env: Envelope): Envelope => ({ ...env, headers: { ...env.headers } });

/** In-memory Bus: the single-process default (and a multi-node bus inside one process for tests). */
export class MemoryBus implements Bus {
  private readonly hub: MemoryBusHub;
  private nodeId: string | null = null;
  private closed = false;

  constructor(hub: MemoryBusHub = new MemoryBusHub()) {
    this.hub = hub;
  }

  async start(nodeId: string, handler: EnvelopeHandler): Promise<void> {
    this.nodeId = nodeId;
    const t = this.hub.topic(nodeId);
    t.consumer = handler;
    this.hub.broadcastSubscribers.set(nodeId, handler);
    this.hub.pump(t);
  }

  async sendToNode(nodeId: string, env: Envelope): Promise<void> {
    const t = this.hub.topic(nodeId);
    t.pending.push(CLONE(env));
    queueMicrotask(() => this.hub.pump(t));
  }

  async broadcast(env: Envelope): Promise<void> {
    for (const handler of this.hub.broadcastSubscribers.values()) {
      const copy = CLONE(env);
      queueMicrotask(() => {
        void Promise.resolve()
          .then(() => handler(copy))
          .catch(() => undefined);
      });
    }
  }

  async drainNode(nodeId: string, handler: EnvelopeHandler): Promise<number> {
    const t = this.hub.topics.get(nodeId);
    if (!t) return 0;
    // The dead consumer's pump stops at its next message (it checks t.consumer); what is
    // pending is handed over here, in order.
    t.consumer = null;
    let n = 0;
    while (t.pending.length > 0) {
      const env = t.pending.shift()!;
      await handler(env);
      n++;
    }
    this.hub.topics.delete(nodeId);
    return n;
  }

  async leave(handler: EnvelopeHandler): Promise<number> {
    if (this.closed || this.nodeId === null) return 0;
    const t = this.hub.topics.get(this.nodeId);
    if (t) t.consumer = null;
    this.hub.broadcastSubscribers.delete(this.nodeId);
    const n = await this.drainNode(this.nodeId, handler);
    this.closed = true;
    return n;
  }

  async close(opts: { deleteOwnTopic?: boolean } = {}): Promise<void> {
    if (this.closed || this.nodeId === null) {
      this.closed = true;
      return;
    }
    this.closed = true;
    const t = this.hub.topics.get(this.nodeId);
    if (t) t.consumer = null;
    this.hub.broadcastSubscribers.delete(this.nodeId);
    if (opts.deleteOwnTopic) this.hub.topics.delete(this.nodeId);
  }
}

/**
 * The cluster layer's three interfaces (docs/design.md "Layers"):
 *
 *  - Registry: which node holds which user's sessions; node liveness; locks.
 *  - Bus: deliver an envelope to one node (its own topic) or to all nodes.
 *  - Inbox: messages waiting for a user who has no session to take them.
 *
 * Each has an in-memory implementation (the single-process default) and a
 * networked one (Redis / Kafka); all of them pass the same conformance suite
 * in spec/conformance/.
 */

/** What every envelope carries. */
interface EnvelopeFields {
  /** Globally unique id; a subscription never gets the same id twice (see Delivery.dedupe). */
  id: string;
  /**
   * kind 'user': the destination as addressed to the user, without the user prefix
   * (e.g. `/queue/x` for a subscription to `/user/queue/x`).
   * kind 'topic': the full destination (e.g. `/topic/x`).
   * kind 'event': the event name.
   */
  destination: string;
  /** Extra headers to put on the MESSAGE frame (content-type etc). */
  headers: Record<string, string>;
  body: Buffer;
  /** How many times this envelope was forwarded between nodes. */
  hops: number;
  /** Node that accepted the message. */
  origin: string;
  /** Epoch ms at which it was accepted. */
  ts: number;
}

/** For one user's sessions (and what waits in an inbox). */
export interface UserEnvelope extends EnvelopeFields {
  kind: 'user';
  /** The user it is for (on a partitioned node topic, also the Kafka message key: one user's messages keep their order). */
  user: string;
}

/** For every /topic subscriber on every node. */
export interface TopicEnvelope extends EnvelopeFields {
  kind: 'topic';
  user?: undefined;
}

/** Cluster control about one user (kick their sessions, replay their inbox). */
export interface EventEnvelope extends EnvelopeFields {
  kind: 'event';
  user: string;
}

/** What travels between nodes: its kind decides who it is for. */
export type Envelope = UserEnvelope | TopicEnvelope | EventEnvelope;

export interface SessionRecord {
  sessionId: string;
  user: string;
  nodeId: string;
  /** Epoch ms. */
  connectedAt: number;
}

export interface NodeInfo {
  nodeId: string;
  /** Epoch ms of the last heartbeat seen. */
  lastSeen: number;
  alive: boolean;
  /** Free-form node metadata (address, version, started). */
  meta: Record<string, string>;
}

/** A registry's nodesOf() cache, as /metrics reports it. */
export interface RegistryCacheStats {
  hits: number;
  misses: number;
  invalidations: number;
  size: number;
  enabled: boolean;
}

export interface Registry {
  /** Register a session of `rec.user` on `rec.nodeId`. */
  addSession(rec: SessionRecord): Promise<void>;
  /**
   * Remove one session. Atomic: removes only the entry for `sessionId` and only if it is
   * still recorded on `nodeId`, so a late disconnect never erases a newer session.
   */
  removeSession(user: string, sessionId: string, nodeId: string): Promise<void>;
  /** All sessions of a user, on every node. */
  sessionsOf(user: string): Promise<SessionRecord[]>;
  /**
   * Distinct node ids holding at least one session of `user`. An implementation
   * may answer from a cache that it keeps coherent (invalidated on every change
   * it is told of); `{ fresh: true }` bypasses any cache and reads the backend.
   */
  nodesOf(user: string, opts?: { fresh?: boolean }): Promise<string[]>;
  /** Optional: counters of a nodesOf() cache, for /metrics. */
  cacheStats?(): RegistryCacheStats;
  /**
   * Optional: whether the cluster lets nodesOf() answer from a cache — false
   * while a node that does not announce its registry changes is alive. Default allowed.
   */
  permitCache?(allowed: boolean): void;
  /** Remove every session recorded on `nodeId` (used when that node is dead). Returns the users affected. */
  removeNode(nodeId: string): Promise<string[]>;

  /** Mark `nodeId` alive for `ttlMs` from now (liveness heartbeat). */
  heartbeat(nodeId: string, ttlMs: number, meta?: Record<string, string>): Promise<void>;
  /** Every node known (alive or whose liveness expired but which was not yet forgotten). */
  nodes(): Promise<NodeInfo[]>;
  /** Forget a node entirely (after its sessions were removed and its topic drained). */
  forgetNode(nodeId: string): Promise<void>;

  /**
   * Optional: call `listener` whenever the backend may have lost state (e.g. the
   * Redis connection was re-established, perhaps to a restarted server with no
   * persistence). The node then re-registers its sessions and liveness.
   */
  onReset?(listener: () => void): void;

  /** Try to take a named lock for `ttlMs`; true if `owner` now holds it. */
  tryLock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Release a lock if `owner` holds it. */
  unlock(name: string, owner: string): Promise<void>;

  close(): Promise<void>;
}

/**
 * Called for every envelope a node receives, one at a time, in order. The bus
 * hands over the next envelope only after the returned promise (if any)
 * resolved, and treats an envelope as handled (may commit its offset) only
 * after that and after `BusHooks.settled()`; a rejection is retried or logged
 * by the bus implementation, never dropped silently. A handler that finished
 * its work synchronously returns nothing, which costs no turn of the event loop.
 */
export type EnvelopeHandler = (env: Envelope) => Promise<void> | void;

export interface BusHooks {
  /**
   * Resolves once the effects of every envelope handled so far have left the
   * process (e.g. the bytes written to sockets for them were handed to the
   * kernel). A bus that records progress (Kafka offsets) awaits it before each
   * commit, so a crash after a commit loses nothing, while handlers need not
   * wait for socket drains one envelope at a time.
   */
  settled?(): Promise<void>;
  /**
   * May envelopes for `nodeId` (null: the broadcast topic) share one bus
   * message? Asked for every send; false while the receiver (for broadcasts:
   * any node) may be a version that cannot read envelope batches. Absent: yes.
   */
  batching?(nodeId: string | null): boolean;
}

export interface Bus {
  /** Start consuming this node's own topic and the broadcast topic. Creates what it needs. */
  start(nodeId: string, handler: EnvelopeHandler, hooks?: BusHooks): Promise<void>;
  /** Deliver to one node's topic. Resolves once the bus has durably accepted it. */
  sendToNode(nodeId: string, env: Envelope): Promise<void>;
  /** Deliver to every node (including this one). */
  broadcast(env: Envelope): Promise<void>;
  /**
   * Take over a dead node's topic: read it from its last committed offset to the end,
   * calling `handler` for each envelope in order, then delete the topic.
   * Returns the number of envelopes handed over.
   */
  drainNode(nodeId: string, handler: EnvelopeHandler): Promise<number>;
  /**
   * Graceful leave: stop consuming this node's topic, hand what is still in it
   * to `handler` in order (the producer stays open meanwhile), delete the topic,
   * close. Returns the number handed over. Optional: without it the broker
   * closes the bus and calls drainNode on its own id.
   */
  leave?(handler: EnvelopeHandler): Promise<number>;
  /** Stop consuming; on a graceful leave also delete this node's own topic. */
  close(opts?: { deleteOwnTopic?: boolean }): Promise<void>;
  /** Optional: envelopes waiting in this node's own topic (Kafka consumer lag), for /metrics. */
  lag?(): number;
}

export interface InboxEntry {
  /** Implementation-specific id, ordered within one user's inbox. */
  entryId: string;
  env: UserEnvelope;
}

export interface InboxLimits {
  /** Max entries kept per user; the oldest are dropped past it. */
  maxLength: number;
  /** Entries older than this (ms) are dropped. */
  maxAgeMs: number;
}

export interface Inbox {
  /**
   * Append to `user`'s inbox (envelope `env.user` must equal `user`). Resolves with the entry id.
   * `writeAhead`: the copy of a message a session of `user` already took and has not ACKed yet
   * (kept for replay should it never be ACKed), not one nobody took.
   */
  append(user: string, env: UserEnvelope, opts?: { writeAhead?: boolean }): Promise<string>;
  /** Entries waiting for `user`, oldest first (expired ones excluded), at most `max`. */
  read(user: string, max?: number): Promise<InboxEntry[]>;
  /** Remove entries by id (after they were delivered). */
  remove(user: string, entryIds: string[]): Promise<void>;
  /** Number of entries waiting for `user`. */
  depth(user: string): Promise<number>;
  close(): Promise<void>;
}

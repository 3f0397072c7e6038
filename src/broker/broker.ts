/**
 * The broker core: destinations, subscriptions, application handlers,
 * sendToUser / publish. It is the SessionHost every session talks to and the
 * SessionOpener of the transports, and it sits on the cluster layer
 * (registry, bus, inbox), whose memory implementations make it a complete
 * single-process broker. Its backends are given once, when it is built; the
 * HTTP side sees it only through BrokerView and BrokerOps (./view.ts).
 * docs/design.md "Layers", "Routing contract".
 *
 * Why one file of ~550 lines: each method answers one thing a session asks
 * (SessionHost) or an application does, and they share the node's indexes;
 * the parts with state of their own live beside it: routing for users
 * (dispatcher.ts), queues, topics, users, the memory budget, pipelined
 * SENDs, envelopes, app handlers, and the cluster side (cluster/node.ts).
 */
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import { ErrorCode, StompError } from '../errors.js';
import { ClusterNode } from '../cluster/node.js';
import { MemoryInbox } from '../cluster/memory/inbox.js';
import type { Bus, Envelope, Inbox, NodeInfo, Registry, TopicEnvelope, UserEnvelope } from '../cluster/types.js';
import type { AuthContext, AuthenticateHook, AuthorizeHook, Principal } from '../session/auth.js';
import type { Connection, SessionOpener } from '../session/connection.js';
import { Session, type HeldBytes, type SessionEvent, type SessionHost } from '../session/session.js';
import type { Subscription } from '../session/subscription.js';
import type { Frame } from '../stomp/frame.js';
import { type AppHandlers, appMessage } from './app-handlers.js';
import { authenticateWith, authorizeWith, defaultAuthenticate } from './auth.js';
import { encodeBody, messageHeaders, SENDER_HEADER } from './body.js';
import { MemoryBudget, heldSize, sessionSender, userSender } from './budget.js';
import { type Destination, DestinationResolver } from './destinations.js';
import { Dispatcher, EVENT_INBOX_REPLAY } from './dispatcher.js';
import { Envelopes } from './envelopes.js';
import { IdSequence } from './ids.js';
import { compilePattern, isPattern, type PatternLimits } from './pattern.js';
import { SendPipeline } from './pipeline.js';
import { QueueManager } from './queues.js';
import { TopicIndex } from './topics.js';
import { LocalUsers } from './users.js';
import type { BrokerOps, BrokerView, NodeSnapshot, Presence } from './view.js';

export const EVENT_KICK = 'kick';
/** How often held messages are swept by age, at most (more often when the ages are short). */
const SWEEP_INTERVAL_MS = 60_000;

/** Whom what a session sends is charged to (the memory budget's per-sender quota): its user, or itself. */
function senderKey(s: Session): string {
  return s.user === null ? sessionSender(s.id) : userSender(s.user);
}

/** Who a message held for a user is charged to: its client sender (x-sender), else nobody (a server push). */
function senderOf(env: UserEnvelope): string | null {
  const sender = env.headers[SENDER_HEADER];
  return sender === undefined || sender === '' ? null : userSender(sender);
}

/** The backends a broker runs on, chosen once before it is built. */
export interface Backends {
  registry: Registry;
  bus: Bus;
  /** null: the node's own memory inbox, charged to its memory budget. */
  inbox: Inbox | null;
  /** True when the backends form a cluster (several nodes). */
  clustered: boolean;
}

export interface BrokerDeps {
  /** Bound to this node's id. */
  log: Logger;
  nodeId: string;
  backends: Backends;
  handlers: AppHandlers;
  authenticate?: AuthenticateHook | undefined;
  authorizeSubscribe?: AuthorizeHook | undefined;
  authorizeSend?: AuthorizeHook | undefined;
}

export interface BrokerCounters {
  framesIn: number;
  framesOut: number;
  heartbeatsIn: number;
  heartbeatsOut: number;
  sessionsOpened: number;
  errors: Map<string, number>;
  topicDeliveries: number;
  handlerErrors: number;
}

type Routable = Exclude<Destination, { kind: 'invalid' }>;

export class Broker implements SessionHost, SessionOpener, BrokerView, BrokerOps {
  readonly config: BrokerConfig;
  readonly log: Logger;
  readonly nodeId: string;
  readonly clustered: boolean;
  // Read by the project's tests through spec/helpers/internals.ts; nothing else reaches them.
  readonly sessions = new Set<Session>();
  readonly counters: BrokerCounters = {
    framesIn: 0,
    framesOut: 0,
    heartbeatsIn: 0,
    heartbeatsOut: 0,
    sessionsOpened: 0,
    errors: new Map(),
    topicDeliveries: 0,
    handlerErrors: 0,
  };
  /** What this node holds for absent consumers, bounded (queues, memory inbox, transactions). */
  readonly budget: MemoryBudget;
  readonly queues: QueueManager;
  readonly dispatcher: Dispatcher;
  readonly bus: Bus;
  /** Null on a single node. */
  readonly cluster: ClusterNode | null;

  private readonly registry: Registry;
  private readonly inbox: Inbox;
  /** The inbox when it is this node's own memory one (single node), swept by age on a timer. */
  private readonly memoryInbox: MemoryInbox | null;
  private readonly users = new LocalUsers();
  private readonly topics: TopicIndex;
  private readonly handlers: AppHandlers;
  private readonly resolver: DestinationResolver;
  private readonly patternLimits: PatternLimits;
  private readonly pipeline = new SendPipeline();
  private readonly sessionIds = new IdSequence();
  private readonly envelopes: Envelopes;
  private readonly authenticateHook: AuthenticateHook;
  private readonly authorizeSubscribe: AuthorizeHook | undefined;
  private readonly authorizeSend: AuthorizeHook | undefined;
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly closedWaiters = new Set<() => void>();
  /** Registry removals in flight (awaited before leaving the cluster). */
  private readonly removals = new Set<Promise<void>>();

  constructor(config: BrokerConfig, deps: BrokerDeps) {
    this.config = config;
    this.nodeId = deps.nodeId;
    this.log = deps.log;
    const { registry, bus, inbox, clustered } = deps.backends;
    this.registry = registry;
    this.bus = bus;
    this.clustered = clustered;
    const l = config.limits;
    this.budget = new MemoryBudget({ maxHeldBytes: l.maxHeldBytes, maxHeldBytesPerSender: l.maxHeldBytesPerSender });
    // The node's own memory inbox is charged to its memory budget: a message nobody took to its
    // sending user (x-sender), refused past the bounds; the write-ahead copy of one a session
    // took (client ack) to the receiving user, never refused (it is delivered already; the
    // receiver's sessions bound it: limits.maxUnacked*PerSession).
    this.memoryInbox =
      inbox === null
        ? new MemoryInbox({ maxLength: config.inbox.maxLength, maxAgeMs: config.inbox.maxAgeMs }, Date.now, (user, env, writeAhead) => {
            const size = heldSize(env.body, env.headers, env.destination);
            const hold = writeAhead ? this.budget.hold('inbox', userSender(user), 0) : this.budget.hold('inbox', senderOf(env), size);
            if (writeAhead) hold.force(size);
            return () => hold.release();
          })
        : null;
    this.inbox = inbox ?? this.memoryInbox!;
    this.queues = new QueueManager({ maxDepth: l.maxQueueDepth, maxAgeMs: l.maxQueueAgeMs, budget: this.budget, deadLetter: config.deadLetterQueue });
    this.handlers = deps.handlers;
    this.envelopes = new Envelopes(this.nodeId);
    this.resolver = new DestinationResolver(config);
    this.patternLimits = { maxLength: l.maxPatternLength, maxWildcards: l.maxPatternWildcards };
    this.topics = new TopicIndex(l.maxTopicPatterns);
    this.authenticateHook = deps.authenticate ?? defaultAuthenticate(config.users);
    this.authorizeSubscribe = deps.authorizeSubscribe;
    this.authorizeSend = deps.authorizeSend;
    this.dispatcher = new Dispatcher({
      nodeId: this.nodeId,
      clustered,
      config,
      registry,
      bus,
      inbox: this.inbox,
      users: this.users,
      log: this.log,
      envelopes: this.envelopes,
    });
    this.cluster = clustered
      ? new ClusterNode({
          nodeId: this.nodeId,
          registry,
          bus,
          options: config.cluster,
          serverName: config.serverName,
          log: this.log,
          sessions: () => this.sessions,
          removals: () => this.removals,
          reroute: (env) => this.dispatcher.reroute(env),
          replayUser: (user) => this.dispatcher.replayUser(user),
        })
      : null;
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'started';
    // Held messages nobody reads expire on a timer, not only when read.
    const ages = Math.min(this.config.limits.maxQueueAgeMs, this.config.inbox.maxAgeMs);
    this.sweepTimer = setInterval(() => {
      this.queues.sweep();
      this.memoryInbox?.sweep();
    }, Math.min(SWEEP_INTERVAL_MS, Math.max(1000, Math.floor(ages / 4))));
    this.sweepTimer.unref();
    await this.bus.start(this.nodeId, (env) => this.onEnvelope(env), {
      settled: () => this.dispatcher.settled(),
      batching: (node) => this.cluster?.batching(node) ?? false,
    });
    await this.cluster?.start();
  }

  /**
   * Ordered, idempotent shutdown: in a cluster this node's topic is handed
   * over first (its sessions still open: see ClusterNode.handOff); then
   * sessions are told to reconnect and closed; then the backends are closed.
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const handedOver = this.cluster ? await this.cluster.handOff((env) => this.onEnvelope(env)) : true;
    for (const s of [...this.sessions]) s.fail(new StompError(ErrorCode.SERVER_SHUTDOWN, 'this node is shutting down; reconnect to another node'));
    await this.waitSessionsClosed(opts.timeoutMs ?? 5000);
    for (const s of [...this.sessions]) {
      s.conn.destroy();
      s.transportClosed();
    }
    if (this.cluster) await this.cluster.stop(handedOver);
    else await this.bus.close({ deleteOwnTopic: true }).catch(() => undefined);
    await Promise.allSettled([this.registry.close(), this.inbox.close()]);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.state = 'stopped';
  }

  private waitSessionsClosed(timeoutMs: number): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.closedWaiters.delete(check);
        resolve();
      };
      const check = (): void => {
        if (this.sessions.size === 0) done();
      };
      const t = setTimeout(done, timeoutMs);
      this.closedWaiters.add(check);
    });
  }

  /** SessionOpener: new connections are taken only while started. */
  get accepting(): boolean {
    return this.state === 'started';
  }

  /** SessionOpener: a transport opened a connection: make its session. */
  openSession(conn: Connection): Session {
    const s = new Session(this, conn);
    this.sessions.add(s);
    this.counters.sessionsOpened++;
    if (!this.accepting) s.fail(new StompError(ErrorCode.SERVER_SHUTDOWN, 'this node is not accepting connections'));
    return s;
  }

  // ------------------------------------------------------------ SessionHost

  newSessionId(): string {
    return this.sessionIds.next();
  }

  count(event: SessionEvent, n = 1): void {
    const c = this.counters;
    if (event === 'frame_in') c.framesIn += n;
    else if (event === 'frame_out') c.framesOut += n;
    else if (event === 'heartbeat_in') c.heartbeatsIn += n;
    else if (event === 'heartbeat_out') c.heartbeatsOut += n;
  }

  /** SessionHost: an ERROR with this code was sent to a client. */
  countError(code: string): void {
    this.counters.errors.set(code, (this.counters.errors.get(code) ?? 0) + 1);
  }

  /** SessionHost: a transaction's buffered frames are charged to the memory budget, to the session's sender. */
  holdTransaction(s: Session): HeldBytes {
    return this.budget.hold('transaction', senderKey(s), 0);
  }

  authenticate(ctx: AuthContext): Promise<Principal | null> {
    return authenticateWith(this.authenticateHook, ctx);
  }

  /**
   * A session finished its CONNECT. Refused once the node is stopping: a session
   * whose CONNECT completes while the node hands its topic over (ClusterNode.handOff
   * deregistered the sessions it had) must not register on a node that is leaving;
   * the refusal fails the session, which deregisters it again (sessionClosed).
   */
  async sessionOpened(s: Session): Promise<void> {
    this.refuseWhenStopping();
    const user = s.user;
    if (!user) return;
    this.users.addSession(user, s);
    await this.registry.addSession({ sessionId: s.id, user, nodeId: this.nodeId, connectedAt: s.connectedAt });
    this.refuseWhenStopping(); // the node began stopping while this one registered
  }

  /** Server-side sends once the node has stopped: an error, not a message silently lost on closed backends. */
  private mustBeRunning(what: string): void {
    if (this.state === 'stopped') throw new Error(`${what}: the broker is closed`);
  }

  private refuseWhenStopping(): void {
    if (this.state === 'stopping' || this.state === 'stopped')
      throw new StompError(ErrorCode.SERVER_SHUTDOWN, 'this node is shutting down; reconnect to another node');
  }

  sessionClosed(s: Session): void {
    this.sessions.delete(s);
    this.dispatcher.forgetConnection(s.conn);
    for (const sub of s.subscriptions.values()) this.removeSubscription(sub);
    const user = s.user;
    if (user && s.principal) {
      this.users.removeSession(user, s);
      const p = this.registry
        .removeSession(user, s.id, this.nodeId)
        .catch((err: unknown) => this.log.error({ err }, 'registry removeSession failed'))
        .finally(() => this.removals.delete(p));
      this.removals.add(p);
    }
    for (const w of [...this.closedWaiters]) w();
  }

  async subscribe(s: Session, sub: Subscription): Promise<void> {
    const d = this.routable(sub.destination);
    if (d.kind === 'app') throw new StompError(ErrorCode.INVALID_DESTINATION, `cannot subscribe to an application destination: ${d.destination}`);
    if (d.kind === 'user') {
      if (!s.user) throw new StompError(ErrorCode.FORBIDDEN, `user destinations need an authenticated user: ${d.destination}`);
      // A session never receives another user's messages.
      if (d.user !== null && d.user !== s.user)
        throw new StompError(ErrorCode.FORBIDDEN, `a session may only subscribe to its own user destinations: ${d.destination}`);
    }
    // Point-to-point queues are addressed exactly: a pattern would compete for nothing.
    if (d.kind === 'queue' && isPattern(sub.destination))
      throw new StompError(ErrorCode.INVALID_DESTINATION, `queue subscriptions cannot use patterns: ${sub.destination}`);
    // Patterns are client input: bounded, and compiled once (before any hook runs).
    const path = d.kind === 'user' ? d.path : sub.destination;
    const pattern = isPattern(path) ? compilePattern(path, this.patternLimits) : null;
    if (pattern !== null) this.checkPatternCount(s);
    if (this.authorizeSubscribe)
      await authorizeWith(this.authorizeSubscribe, { principal: s.principal, sessionId: s.id, destination: sub.destination, headers: sub.headers });
    if (!s.isConnected || s.subscriptions.get(sub.id) !== sub) return; // unsubscribed or closed meanwhile
    switch (d.kind) {
      case 'topic':
        this.topics.add(sub, pattern); // may refuse a new distinct pattern: before the route is set
        sub.route = { kind: 'topic', pattern };
        return;
      case 'queue':
        sub.route = { kind: 'queue' };
        this.queues.addConsumer(sub);
        return;
      case 'user': {
        const route = { kind: 'user', user: s.user!, path: d.path, pattern, userPrefix: this.config.userPrefix } as const;
        sub.route = route;
        this.users.addSubscription(sub, route);
        if (this.dispatcher.keepable(d.path) || pattern !== null) await this.dispatcher.replay(sub, route);
      }
    }
  }

  /** A session's pattern subscriptions (topic and user) are bounded: each is matched against what is published. */
  private checkPatternCount(s: Session): void {
    const max = this.config.limits.maxPatternSubscriptionsPerSession;
    let n = 0;
    for (const sub of s.subscriptions.values()) if (sub.route !== null && sub.route.kind !== 'queue' && sub.route.pattern !== null) n++;
    if (n >= max) throw new StompError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `at most ${max} pattern subscriptions per session`);
  }

  unsubscribe(_s: Session, sub: Subscription): void {
    this.removeSubscription(sub);
  }

  private removeSubscription(sub: Subscription): void {
    const route = sub.route;
    if (route === null) return;
    if (route.kind === 'topic') this.topics.remove(sub);
    else if (route.kind === 'queue') this.queues.removeConsumer(sub);
    else this.users.removeSubscription(sub, route);
    sub.route = null;
  }

  send(s: Session, frame: Frame): Promise<void> | void {
    const destination = frame.headers['destination']!;
    const d = this.routable(destination);
    if (this.authorizeSend)
      return authorizeWith(this.authorizeSend, { principal: s.principal, sessionId: s.id, destination, headers: frame.headers }).then(() =>
        this.sendAllowed(s, frame, d),
      );
    return this.sendAllowed(s, frame, d);
  }

  /** Classify a client's destination; an invalid one is a coded refusal. */
  private routable(destination: string): Routable {
    const d = this.resolver.classify(destination);
    if (d.kind === 'invalid') throw new StompError(d.forbidden ? ErrorCode.FORBIDDEN : ErrorCode.INVALID_DESTINATION, `${d.reason}: ${destination}`);
    return d;
  }

  private sendAllowed(s: Session, frame: Frame, d: Routable): Promise<void> | void {
    const destination = frame.headers['destination']!;
    const headers = messageHeaders(frame.headers, s.user);
    const receipt = frame.headers['receipt'] !== undefined;
    switch (d.kind) {
      case 'app':
        return this.invokeHandler(s, d.destination, d.path, frame);
      case 'topic':
        return this.pipeline.track(s, receipt, this.publishEnvelope(this.envelopes.topic(destination, headers, frame.body)));
      case 'queue':
        this.queues.enqueue({ id: this.envelopes.nextId(), destination, headers, body: frame.body, redelivered: false }, senderKey(s));
        return;
      case 'user': {
        // Only an authenticated session may address a user; the receiver sees who sent it (x-sender).
        if (!s.user) throw new StompError(ErrorCode.FORBIDDEN, `user destinations need an authenticated user: ${destination}`);
        const target = d.user ?? s.user;
        if (target !== s.user && !this.config.allowClientSendToUser)
          throw new StompError(ErrorCode.FORBIDDEN, `clients may not send to other users' destinations: ${destination}`);
        return this.pipeline.track(s, receipt, this.dispatcher.route(this.envelopes.user(target, d.path, headers, frame.body)));
      }
    }
  }

  /** Spring's @MessageMapping: the handler's result goes on like @SendToUser / @SendTo, or to /topic + path. */
  private async invokeHandler(s: Session, destination: string, path: string, frame: Frame): Promise<void> {
    const found = this.handlers.find(path);
    if (!found) throw new StompError(ErrorCode.NO_HANDLER, `no handler is registered for ${destination}`);
    let result: unknown;
    try {
      result = await found.mapping.fn(appMessage(frame, { destination, path, params: found.params }, { user: s.user, sessionId: s.id }));
    } catch (err) {
      // A StompError from a handler is a deliberate refusal: the client gets it.
      if (err instanceof StompError) throw err;
      this.counters.handlerErrors++;
      this.log.error({ err, destination }, 'application handler failed');
      return;
    }
    if (result === undefined) return;
    const { sendTo, sendToUser } = found.mapping.opts;
    if (sendToUser && s.user) await this.sendToUser(s.user, sendToUser, result);
    if (sendTo) await this.publish(sendTo, result);
    if (!sendTo && !sendToUser) await this.publish(this.config.topicPrefixes[0]! + path, result);
  }

  // ------------------------------------------------------------ bus

  private onEnvelope(env: Envelope): Promise<void> | void {
    switch (env.kind) {
      case 'user':
        return this.dispatcher.receive(env);
      case 'topic':
        if (env.origin !== this.nodeId) this.deliverTopic(env);
        return;
      case 'event':
        if (env.destination === EVENT_INBOX_REPLAY) return this.dispatcher.replayUser(env.user);
        if (env.destination === EVENT_KICK) this.kickLocal(env.user);
        return;
    }
  }

  private deliverTopic(env: TopicEnvelope): number {
    let n = 0;
    for (const sub of this.topics.match(env.destination)) {
      if (sub.session.deliver(sub, { messageId: env.id, destination: env.destination, headers: env.headers, body: env.body })) n++;
    }
    this.counters.topicDeliveries += n;
    return n;
  }

  private async publishEnvelope(env: TopicEnvelope): Promise<void> {
    this.deliverTopic(env);
    if (this.clustered) await this.bus.broadcast(env);
  }

  // ------------------------------------------------------------ operations

  /**
   * Send to every session of `user` subscribed to `/user` + destination, on any node
   * (Spring's convertAndSendToUser). Objects go out as JSON. Resolves once the
   * message was handed to local sockets, to the bus, or to the user's inbox.
   */
  async sendToUser(user: string, destination: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    if (!user) throw new Error('sendToUser: user is required');
    this.mustBeRunning('sendToUser');
    let path = destination;
    const up = this.config.userPrefix;
    if (path.startsWith(up + '/')) path = path.slice(up.length);
    if (!path.startsWith('/')) throw new Error(`sendToUser: destination must start with /, got "${destination}"`);
    const enc = encodeBody(body);
    const h: Record<string, string> = enc.contentType ? { 'content-type': enc.contentType, ...headers } : { ...headers };
    await this.dispatcher.route(this.envelopes.user(user, path, h, enc.body));
  }

  /** Publish to a /topic destination (every subscriber on every node) or a /queue (this node). */
  async publish(destination: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    this.mustBeRunning('publish');
    const d = this.resolver.classify(destination);
    const enc = encodeBody(body);
    const h: Record<string, string> = enc.contentType ? { 'content-type': enc.contentType, ...headers } : { ...headers };
    if (d.kind === 'topic') return this.publishEnvelope(this.envelopes.topic(destination, h, enc.body));
    if (d.kind === 'queue') {
      this.queues.enqueue({ id: this.envelopes.nextId(), destination, headers: h, body: enc.body, redelivered: false }, null);
      return;
    }
    if (d.kind === 'user' && d.user) return this.sendToUser(d.user, d.path, body, headers);
    throw new StompError(ErrorCode.INVALID_DESTINATION, `publish: not a topic or queue destination: ${destination}`);
  }

  /** Close every session of `user` on every node. Returns the number closed here. */
  async kick(user: string): Promise<number> {
    const n = this.kickLocal(user);
    if (this.clustered) {
      const nodes = (await this.registry.nodesOf(user)).filter((x) => x !== this.nodeId);
      await Promise.all(nodes.map((node) => this.bus.sendToNode(node, this.envelopes.event(user, EVENT_KICK))));
    }
    return n;
  }

  private kickLocal(user: string): number {
    const sessions = this.users.sessionsOf(user);
    for (const s of sessions) s.fail(new StompError(ErrorCode.SESSION_KICKED, 'the server closed this session'));
    return sessions.length;
  }

  // ------------------------------------------------------------ BrokerView

  get sessionCount(): number {
    return this.sessions.size;
  }

  snapshot(): NodeSnapshot {
    let subscriptions = 0;
    for (const s of this.sessions) subscriptions += s.subscriptions.size;
    const c = this.counters;
    return {
      sessions: this.sessions.size,
      users: this.users.userCount,
      subscriptions,
      framesIn: c.framesIn,
      framesOut: c.framesOut,
      heartbeatsIn: c.heartbeatsIn,
      heartbeatsOut: c.heartbeatsOut,
      sessionsOpened: c.sessionsOpened,
      topicDeliveries: c.topicDeliveries,
      handlerErrors: c.handlerErrors,
      errors: c.errors,
      dispatch: this.dispatcher.counters,
      ...(this.cluster?.takeovers ?? { takeovers: 0, recovered: 0 }),
      busLag: this.bus.lag?.() ?? 0,
      cache: this.registry.cacheStats?.() ?? null,
      held: { byKind: this.budget.byKind(), limit: this.budget.limits.maxHeldBytes, refusals: this.budget.refusals() },
      queueDrops: { depth: this.queues.dropped, age: this.queues.expired, nack: this.queues.rejected },
    };
  }

  async presence(user: string): Promise<Presence> {
    const sessions = await this.registry.sessionsOf(user);
    return {
      sessions: sessions.map((s) => ({ sessionId: s.sessionId, nodeId: s.nodeId, connectedAt: s.connectedAt })),
      nodes: [...new Set(sessions.map((s) => s.nodeId))],
      inbox: await this.inbox.depth(user),
    };
  }

  async nodes(): Promise<NodeInfo[]> {
    if (this.clustered) return this.registry.nodes();
    return [{ nodeId: this.nodeId, alive: true, lastSeen: Date.now(), meta: {} }];
  }
}

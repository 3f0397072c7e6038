/**
 * The broker core: destinations, subscriptions, application handlers,
 * sendToUser / publish. It is the SessionHost every session talks to, and it
 * sits on the cluster layer (registry, bus, inbox), whose memory
 * implementations make it a complete single-process broker.
 */
import type { Logger } from 'pino';
import type { AuthContext, AuthenticateHook, AuthorizeHook, BrokerConfig, Principal } from '../config.js';
import { ErrorCode, StompError } from '../errors.js';
import type { Bus, Envelope, Inbox, Registry } from '../cluster/types.js';
import { MemoryBus } from '../cluster/memory/bus.js';
import { MemoryInbox } from '../cluster/memory/inbox.js';
import { MemoryRegistry } from '../cluster/memory/registry.js';
import type { Connection } from '../session/connection.js';
import { Session, type SessionEvent, type SessionHost } from '../session/session.js';
import type { Subscription } from '../session/subscription.js';
import type { Frame } from '../stomp/frame.js';
import { AppHandlers, type AppHandler, type AppMessage, type HandlerOptions } from './app-handlers.js';
import { defaultAuthenticate } from './auth.js';
import { encodeBody, messageHeaders, SENDER_HEADER } from './body.js';
import { DestinationResolver } from './destinations.js';
import { Dispatcher, EVENT_INBOX_REPLAY } from './dispatcher.js';
import { IdSequence, generateNodeId } from './ids.js';
import { type ClusterFeatures, NODE_FEATURES } from './features.js';
import { Membership } from './membership.js';
import { QueueManager } from './queues.js';
import { type Hold, MemoryBudget, heldSize, sessionSender, userSender } from './budget.js';
import { compilePattern, isPattern, type PatternLimits } from './pattern.js';
import { TopicIndex } from './topics.js';
import { LocalUsers } from './users.js';

export const EVENT_KICK = 'kick';
/** How often held messages are swept by age, at most (more often when the ages are short). */
const SWEEP_INTERVAL_MS = 60_000;

/** Whom what a session sends is charged to (the memory budget's per-sender quota): its user, or itself. */
function senderKey(s: Session): string {
  return s.user === null ? sessionSender(s.id) : userSender(s.user);
}

/** Who a message held for a user is charged to: its client sender (x-sender), else nobody (a server push). */
function senderOf(env: Envelope): string | null {
  const sender = env.headers[SENDER_HEADER];
  return sender === undefined || sender === '' ? null : userSender(sender);
}

/** Client SENDs to /topic or /user a session may have handed on without confirmation before it waits. */
export const MAX_SENDS_IN_FLIGHT = 256;

export interface BrokerDeps {
  log: Logger;
  registry?: Registry | undefined;
  bus?: Bus | undefined;
  inbox?: Inbox | undefined;
  /** True when the backends form a cluster (several nodes). */
  clustered?: boolean;
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

interface TopicRoute {
  kind: 'topic' | 'queue';
}

export class Broker implements SessionHost {
  readonly config: BrokerConfig;
  readonly log: Logger;
  readonly nodeId: string;
  registry: Registry;
  bus: Bus;
  inbox: Inbox;
  clustered: boolean;
  readonly users = new LocalUsers();
  readonly topics = new TopicIndex();
  readonly queues: QueueManager;
  /** What this node holds for absent consumers, bounded (queues, memory inbox, transactions). */
  readonly budget: MemoryBudget;
  /** The inbox when it is this node's own memory one (single node), swept by age on a timer. */
  private memoryInbox: MemoryInbox | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  readonly handlers = new AppHandlers();
  dispatcher: Dispatcher;
  readonly resolver: DestinationResolver;
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
  readonly sessions = new Set<Session>();
  private membership: Membership | null = null;
  /** Client SENDs handed on but not yet confirmed, per session (see pipelined()). */
  private readonly sendsInFlight = new WeakMap<Session, Set<Promise<void>>>();
  /** What every node can do, as membership last read it (nothing until then: no batches, no cache). */
  private features: ClusterFeatures = { nodes: new Map(), common: new Set() };
  private readonly patternLimits: PatternLimits;
  private readonly sessionIds: IdSequence;
  private readonly envelopeIds: IdSequence;
  private readonly authenticateHook: AuthenticateHook;
  private readonly authorizeSubscribe: AuthorizeHook | undefined;
  private readonly authorizeSend: AuthorizeHook | undefined;
  private state: 'new' | 'started' | 'stopping' | 'stopped' = 'new';
  private readonly closedWaiters = new Set<() => void>();
  /** Registry removals in flight (awaited before leaving the cluster). */
  private readonly removals = new Set<Promise<void>>();

  constructor(config: BrokerConfig, deps: BrokerDeps) {
    this.config = config;
    this.nodeId = config.nodeId ?? generateNodeId();
    this.log = deps.log.child({ node: this.nodeId });
    this.registry = deps.registry ?? new MemoryRegistry();
    this.bus = deps.bus ?? new MemoryBus();
    const l = config.limits;
    this.budget = new MemoryBudget({ maxHeldBytes: l.maxHeldBytes, maxHeldBytesPerSender: l.maxHeldBytesPerSender });
    if (deps.inbox) this.inbox = deps.inbox;
    else {
      // The node's own memory inbox is charged to its memory budget (per sending user: x-sender).
      this.memoryInbox = new MemoryInbox({ maxLength: config.inbox.maxLength, maxAgeMs: config.inbox.maxAgeMs }, Date.now, (_user, env) => {
        const hold = this.budget.hold('inbox', senderOf(env), heldSize(env.body, env.headers, env.destination));
        return () => hold.release();
      });
      this.inbox = this.memoryInbox;
    }
    this.clustered = deps.clustered ?? false;
    this.queues = new QueueManager({ maxDepth: l.maxQueueDepth, maxAgeMs: l.maxQueueAgeMs, budget: this.budget, deadLetter: config.deadLetterQueue });
    this.resolver = new DestinationResolver(config);
    this.patternLimits = { maxLength: config.limits.maxPatternLength, maxWildcards: config.limits.maxPatternWildcards };
    this.sessionIds = new IdSequence();
    this.envelopeIds = new IdSequence();
    this.authenticateHook = deps.authenticate ?? defaultAuthenticate(config.users);
    this.authorizeSubscribe = deps.authorizeSubscribe;
    this.authorizeSend = deps.authorizeSend;
    this.dispatcher = this.buildDispatcher();
  }

  private buildDispatcher(): Dispatcher {
    return new Dispatcher({
      nodeId: this.nodeId,
      clustered: this.clustered,
      config: this.config,
      registry: this.registry,
      bus: this.bus,
      inbox: this.inbox,
      users: this.users,
      log: this.log,
      newEnvelopeId: () => this.envelopeIds.next(),
    });
  }

  /** Swap in other backends (the cluster ones) before start(). */
  useBackends(b: { registry?: Registry | undefined; bus?: Bus | undefined; inbox?: Inbox | undefined; clustered: boolean }): void {
    if (this.state !== 'new') throw new Error('useBackends() must be called before start()');
    if (b.registry) this.registry = b.registry;
    if (b.bus) this.bus = b.bus;
    if (b.inbox) this.inbox = b.inbox;
    this.clustered = b.clustered;
    this.dispatcher = this.buildDispatcher();
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'started';
    // Held messages nobody reads expire on a timer, not only when read.
    const sweepMs = Math.min(SWEEP_INTERVAL_MS, Math.max(1000, Math.floor(Math.min(this.config.limits.maxQueueAgeMs, this.config.inbox.maxAgeMs) / 4)));
    this.sweepTimer = setInterval(() => {
      this.queues.sweep();
      this.memoryInbox?.sweep();
    }, sweepMs);
    this.sweepTimer.unref();
    await this.bus.start(this.nodeId, (env) => this.onEnvelope(env), {
      settled: () => this.dispatcher.settled(),
      // Batches only to nodes known to read them (for broadcasts: while every node does).
      batching: (node) => (node === null ? this.features.common.has('envelope-batch') : this.features.nodes.get(node)?.has('envelope-batch') === true),
    });
    if (this.clustered) {
      this.registry.permitCache?.(false); // until membership has read what every node can do
      this.membership = new Membership({
        nodeId: this.nodeId,
        registry: this.registry,
        bus: this.bus,
        options: this.config.cluster,
        log: this.log,
        meta: { started: String(Date.now()), pid: String(process.pid), version: this.config.serverName, features: (this.config.cluster.features ?? NODE_FEATURES).join(',') },
        reroute: (env) => this.dispatcher.reroute(env),
        onFeatures: (f) => {
          this.features = f;
          this.registry.permitCache?.(f.common.has('registry-notify'));
        },
      });
      await this.membership.start();
      this.registry.onReset?.(() => void this.reassert());
    }
  }

  /**
   * The registry may have lost its state (Redis restarted without persistence):
   * register this node's sessions and liveness again, then replay any inbox that
   * filled while its users looked offline.
   */
  async reassert(): Promise<void> {
    if (this.state !== 'started') return;
    try {
      await this.membership?.beat();
      const users = new Set<string>();
      for (const s of this.sessions) {
        const user = s.user;
        if (!user || !s.isConnected) continue;
        users.add(user);
        await this.registry.addSession({ sessionId: s.id, user, nodeId: this.nodeId, connectedAt: s.connectedAt });
      }
      for (const u of users) await this.dispatcher.replayUser(u);
      this.log.info({ sessions: this.sessions.size, users: users.size }, 're-registered sessions after a registry reset');
    } catch (err) {
      this.log.error({ err }, 're-registering sessions failed');
    }
  }

  /**
   * Ordered, idempotent shutdown: sessions are told to reconnect and closed
   * first; then this node's pending bus messages are handed on (re-routed),
   * then the backends are closed.
   */
  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    const timeoutMs = opts.timeoutMs ?? 5000;
    const handedOver = this.clustered ? await this.handOff() : true;
    for (const s of [...this.sessions]) s.fail(new StompError(ErrorCode.SERVER_SHUTDOWN, 'this node is shutting down; reconnect to another node'));
    await this.waitSessionsClosed(timeoutMs);
    for (const s of [...this.sessions]) {
      s.conn.destroy();
      s.transportClosed();
    }
    if (this.clustered) {
      await Promise.allSettled([...this.removals]);
      // Forget this node only if nothing was left behind; otherwise a survivor must act for it.
      await this.membership?.stop(handedOver);
    } else {
      await this.bus.close({ deleteOwnTopic: true }).catch(() => undefined);
    }
    await Promise.allSettled([this.registry.close(), this.inbox.close()]);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.state = 'stopped';
  }

  /**
   * Leave the cluster without losing or reordering anything:
   *  1. deregister every local session, so senders stop choosing this node
   *     (meanwhile those users' messages wait, in order, in their inboxes);
   *  2. deliver what is still in this node's topic to the sessions, which are
   *     still open, and forward or keep what no session here takes;
   *  3. only then (in stop()) are clients told to reconnect; their next
   *     subscription replays the inbox before any live message.
   * Returns false if the topic could not be handed over (a survivor takes it over).
   */
  private async handOff(): Promise<boolean> {
    const deregister: Array<Promise<void>> = [];
    for (const s of this.sessions) {
      const user = s.user;
      if (user && s.isConnected) deregister.push(this.registry.removeSession(user, s.id, this.nodeId));
    }
    await Promise.allSettled([...deregister, ...this.removals]);
    const handler = (env: Envelope): Promise<void> | void => this.onEnvelope(env);
    try {
      let n: number;
      if (this.bus.leave) n = await this.bus.leave(handler);
      else {
        await this.bus.close({ deleteOwnTopic: false });
        n = await this.bus.drainNode(this.nodeId, handler);
      }
      this.log.info({ handedOver: n }, 'left the cluster; pending messages delivered or handed on');
      return true;
    } catch (err) {
      this.log.error({ err }, "hand-over of this node's topic failed; survivors will take it over when its liveness expires");
      await this.bus.close().catch(() => undefined);
      return false;
    }
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

  get accepting(): boolean {
    return this.state === 'started';
  }

  /** Open sessions on this node (what StompServer's NodeStatus reads). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** A transport opened a connection: make its session. */
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
  holdTransaction(s: Session): Hold {
    return this.budget.hold('transaction', senderKey(s), 0);
  }

  async authenticate(ctx: AuthContext): Promise<Principal | null> {
    let p: Principal | null | false;
    try {
      p = await this.authenticateHook(ctx);
    } catch (err) {
      if (err instanceof StompError) throw err;
      throw new StompError(ErrorCode.AUTH_FAILED, err instanceof Error ? err.message : 'authentication refused');
    }
    if (p === false) throw new StompError(ErrorCode.AUTH_FAILED, 'authentication refused');
    if (p && (typeof p.name !== 'string' || p.name.length === 0)) throw new StompError(ErrorCode.AUTH_FAILED, 'empty user name');
    return p;
  }

  async sessionOpened(s: Session): Promise<void> {
    const user = s.user;
    if (!user) return;
    this.users.addSession(user, s);
    await this.registry.addSession({ sessionId: s.id, user, nodeId: this.nodeId, connectedAt: s.connectedAt });
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
    const d = this.resolver.classify(sub.destination);
    if (d.kind === 'invalid') throw new StompError(d.forbidden ? ErrorCode.FORBIDDEN : ErrorCode.INVALID_DESTINATION, `${d.reason}: ${d.destination}`);
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
    if (this.authorizeSubscribe) await this.authorize(this.authorizeSubscribe, s, sub.destination, sub.headers);
    if (!s.isConnected || s.subscriptions.get(sub.id) !== sub) return; // unsubscribed or closed meanwhile
    if (d.kind === 'topic') {
      sub.route = { kind: 'topic' } satisfies TopicRoute;
      this.topics.add(sub, pattern);
    } else if (d.kind === 'queue') {
      sub.route = { kind: 'queue' } satisfies TopicRoute;
      this.queues.addConsumer(sub);
    } else {
      this.users.addSubscription(sub, { kind: 'user', user: s.user!, path: d.path, pattern, userPrefix: this.config.userPrefix });
      if (this.dispatcher.keepable(d.path) || pattern !== null) await this.dispatcher.replay(sub);
    }
  }

  unsubscribe(_s: Session, sub: Subscription): void {
    this.removeSubscription(sub);
  }

  private removeSubscription(sub: Subscription): void {
    const route = sub.route as { kind: string } | null;
    if (!route) return;
    if (route.kind === 'topic') this.topics.remove(sub);
    else if (route.kind === 'queue') this.queues.removeConsumer(sub);
    else if (route.kind === 'user') this.users.removeSubscription(sub);
    sub.route = null;
  }

  private async authorize(hook: AuthorizeHook, s: Session, destination: string, headers: Frame['headers']): Promise<void> {
    let ok: boolean;
    try {
      ok = await hook({ principal: s.principal, sessionId: s.id, destination, headers });
    } catch (err) {
      if (err instanceof StompError) throw err;
      ok = false;
    }
    if (!ok) throw new StompError(ErrorCode.FORBIDDEN, `not allowed: ${destination}`);
  }

  send(s: Session, frame: Frame): Promise<void> | void {
    const destination = frame.headers['destination']!;
    const d = this.resolver.classify(destination);
    if (d.kind === 'invalid') throw new StompError(d.forbidden ? ErrorCode.FORBIDDEN : ErrorCode.INVALID_DESTINATION, `${d.reason}: ${destination}`);
    if (this.authorizeSend) return this.authorize(this.authorizeSend, s, destination, frame.headers).then(() => this.sendAllowed(s, frame, d));
    return this.sendAllowed(s, frame, d);
  }

  private sendAllowed(s: Session, frame: Frame, d: Exclude<ReturnType<DestinationResolver['classify']>, { kind: 'invalid' }>): Promise<void> | void {
    const destination = frame.headers['destination']!;
    const headers = messageHeaders(frame.headers, s.user);
    switch (d.kind) {
      case 'app':
        return this.invokeHandler(s, d.destination, d.path, frame);
      case 'topic':
        return this.pipelined(s, frame, this.publishEnvelope(this.envelope('topic', undefined, destination, headers, frame.body)));
      case 'queue':
        this.queues.enqueue({ id: this.envelopeIds.next(), destination, headers, body: frame.body, redelivered: false }, senderKey(s));
        return;
      case 'user': {
        // Only an authenticated session may address a user; the receiver sees who sent it (x-sender).
        if (!s.user) throw new StompError(ErrorCode.FORBIDDEN, `user destinations need an authenticated user: ${destination}`);
        const target = d.user ?? s.user;
        if (target !== s.user && !this.config.allowClientSendToUser)
          throw new StompError(ErrorCode.FORBIDDEN, `clients may not send to other users' destinations: ${destination}`);
        return this.pipelined(s, frame, this.dispatcher.route(this.envelope('user', target, d.path, headers, frame.body)));
      }
    }
  }

  /**
   * A client SEND to /topic or /user was routed in order (routing is FIFO up to
   * the bus's send queue); the session may read its next frame before the bus
   * confirmed this one, so a burst of SENDs travels together. It waits instead
   * when the frame asks for a receipt (the RECEIPT then means: this and every
   * earlier SEND of the session were accepted) or when MAX_SENDS_IN_FLIGHT are
   * unconfirmed. A send that fails later fails the session, as before.
   */
  private pipelined(s: Session, frame: Frame, routed: Promise<void>): Promise<void> | void {
    let inFlight = this.sendsInFlight.get(s);
    if (frame.headers['receipt'] !== undefined) return inFlight && inFlight.size > 0 ? Promise.all([...inFlight, routed]).then(() => undefined) : routed;
    if (inFlight && inFlight.size >= MAX_SENDS_IN_FLIGHT) return routed;
    if (!inFlight) this.sendsInFlight.set(s, (inFlight = new Set()));
    const set = inFlight;
    const tracked = routed.then(
      () => void set.delete(tracked),
      (err: unknown) => {
        set.delete(tracked);
        s.fail(err);
      },
    );
    set.add(tracked);
  }

  private async invokeHandler(s: Session, destination: string, path: string, frame: Frame): Promise<void> {
    const found = this.handlers.find(path);
    if (!found) throw new StompError(ErrorCode.NO_HANDLER, `no handler is registered for ${destination}`);
    const body = frame.body;
    const msg: AppMessage = {
      destination,
      path,
      params: found.params,
      user: s.user,
      sessionId: s.id,
      headers: frame.headers,
      body,
      text: () => body.toString('utf8'),
      json: <T>() => JSON.parse(body.toString('utf8')) as T,
    };
    let result: unknown;
    try {
      result = await found.mapping.fn(msg);
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
        if (env.destination === EVENT_INBOX_REPLAY && env.user) return this.dispatcher.replayUser(env.user);
        if (env.destination === EVENT_KICK && env.user) this.kickLocal(env.user);
        return;
    }
  }

  private envelope(kind: Envelope['kind'], user: string | undefined, destination: string, headers: Record<string, string>, body: Buffer): Envelope {
    return { id: this.envelopeIds.next(), kind, user, destination, headers, body, hops: 0, origin: this.nodeId, ts: Date.now() };
  }

  private deliverTopic(env: Envelope): number {
    let n = 0;
    for (const sub of this.topics.match(env.destination)) {
      if (sub.session.deliver(sub, { messageId: env.id, destination: env.destination, headers: env.headers, body: env.body })) n++;
    }
    this.counters.topicDeliveries += n;
    return n;
  }

  private async publishEnvelope(env: Envelope): Promise<void> {
    this.deliverTopic(env);
    if (this.clustered) await this.bus.broadcast(env);
  }

  // ------------------------------------------------------------ public API

  /**
   * Send to every session of `user` subscribed to `/user` + destination, on any node
   * (Spring's convertAndSendToUser). Objects go out as JSON. Resolves once the
   * message was handed to local sockets, to the bus, or to the user's inbox.
   */
  async sendToUser(user: string, destination: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    if (!user) throw new Error('sendToUser: user is required');
    let path = destination;
    const up = this.config.userPrefix;
    if (path.startsWith(up + '/')) path = path.slice(up.length);
    if (!path.startsWith('/')) throw new Error(`sendToUser: destination must start with /, got "${destination}"`);
    const enc = encodeBody(body);
    const h: Record<string, string> = enc.contentType ? { 'content-type': enc.contentType, ...headers } : { ...headers };
    await this.dispatcher.route(this.envelope('user', user, path, h, enc.body));
  }

  /** Publish to a /topic destination (every subscriber on every node) or a /queue (this node). */
  async publish(destination: string, body: unknown, headers: Record<string, string> = {}): Promise<void> {
    const d = this.resolver.classify(destination);
    const enc = encodeBody(body);
    const h: Record<string, string> = enc.contentType ? { 'content-type': enc.contentType, ...headers } : { ...headers };
    if (d.kind === 'topic') return this.publishEnvelope(this.envelope('topic', undefined, destination, h, enc.body));
    if (d.kind === 'queue') {
      this.queues.enqueue({ id: this.envelopeIds.next(), destination, headers: h, body: enc.body, redelivered: false }, null);
      return;
    }
    if (d.kind === 'user' && d.user) return this.sendToUser(d.user, d.path, body, headers);
    throw new StompError(ErrorCode.INVALID_DESTINATION, `publish: not a topic or queue destination: ${destination}`);
  }

  /** Register an /app handler (Spring's @MessageMapping) for `path` (without the app prefix). */
  handle(path: string, fn: AppHandler, opts?: HandlerOptions): void {
    this.handlers.add(path, fn, opts);
  }

  /** Close every session of `user` on every node. Returns the number closed here. */
  async kick(user: string): Promise<number> {
    const n = this.kickLocal(user);
    if (this.clustered) {
      const nodes = (await this.registry.nodesOf(user)).filter((x) => x !== this.nodeId);
      await Promise.all(nodes.map((node) => this.bus.sendToNode(node, this.envelope('event', user, EVENT_KICK, {}, Buffer.alloc(0)))));
    }
    return n;
  }

  private kickLocal(user: string): number {
    const sessions = this.users.sessionsOf(user);
    for (const s of sessions) s.fail(new StompError(ErrorCode.SESSION_KICKED, 'the server closed this session'));
    return sessions.length;
  }

  /** A snapshot for /health, the dashboard and the HTTP API. */
  /** Subscriptions held by this node's sessions. */
  subscriptionCount(): number {
    let n = 0;
    for (const s of this.sessions) n += s.subscriptions.size;
    return n;
  }

  stats(): Record<string, number | string> {
    const subscriptions = this.subscriptionCount();
    return {
      node: this.nodeId,
      sessions: this.sessions.size,
      users: this.users.userCount,
      subscriptions,
      framesIn: this.counters.framesIn,
      framesOut: this.counters.framesOut,
      deliveredLocal: this.dispatcher.counters.deliveredLocal,
      topicDeliveries: this.counters.topicDeliveries,
      forwarded: this.dispatcher.counters.forwarded,
      sentRemote: this.dispatcher.counters.sentRemote,
      inboxed: this.dispatcher.counters.inboxed,
      replayed: this.dispatcher.counters.replayed,
    };
  }

  get membershipInfo(): { takeovers: number; recovered: number } {
    return { takeovers: this.membership?.takeovers ?? 0, recovered: this.membership?.recovered ?? 0 };
  }

  /** Messages waiting in this node's bus topic (Kafka consumer lag), if the bus reports it. */
  busLag(): number {
    const b = this.bus as Bus & { lag?: () => number };
    return typeof b.lag === 'function' ? b.lag() : 0;
  }

  /** For tests: run a dead-node check now. */
  async checkDeadNodes(): Promise<void> {
    await this.membership?.checkDead();
  }
}

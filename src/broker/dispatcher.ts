/**
 * The routing contract (docs/design.md "Routing contract") for user destinations:
 *
 *  - sendToUser(U, d) on any node: look U up; deliver to local sessions
 *    directly; one envelope per other node holding a session of U, on that
 *    node's topic, keyed by U (so one user's messages keep their order).
 *  - A receiving node delivers to U's local sessions subscribed to /user + d.
 *    If U has no session there any more it looks U up again and forwards
 *    (hops + 1). Past the hop limit, or if U has no session anywhere, the
 *    message waits in U's inbox and is replayed when U subscribes again.
 *  - Every envelope has an id; a session never gets the same id twice.
 */
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { Bus, Envelope, Inbox, Registry, UserEnvelope } from '../cluster/types.js';
import type { Connection } from '../session/connection.js';
import type { Subscription } from '../session/subscription.js';
import type { Delivery } from '../session/subscription.js';
import { compilePattern, type CompiledPattern } from './pattern.js';
import type { LocalUsers } from './users.js';
import type { UserRoute } from './routes.js';
import type { Envelopes } from './envelopes.js';

export const REPLAY_HEADER = 'x-replay';
export const EVENT_INBOX_REPLAY = 'inbox-replay';

export interface DispatchCounters {
  deliveredLocal: number;
  forwarded: number;
  sentRemote: number;
  hops: number;
  inboxed: number;
  replayed: number;
  dropped: number;
}

export interface DispatcherDeps {
  nodeId: string;
  /** False on a single node: routing needs no registry look-up. */
  clustered: boolean;
  config: BrokerConfig;
  registry: Registry;
  bus: Bus;
  inbox: Inbox;
  users: LocalUsers;
  log: Logger;
  /** Makes the envelopes this node sends (its inbox-replay events). */
  envelopes: Envelopes;
}

export class Dispatcher {
  readonly counters: DispatchCounters = { deliveredLocal: 0, forwarded: 0, sentRemote: 0, hops: 0, inboxed: 0, replayed: 0, dropped: 0 };
  private readonly d: DispatcherDeps;
  private readonly keep: CompiledPattern[];
  /** Subscriptions whose inbox replay is running: live messages wait behind it. */
  private readonly replaying = new Map<Subscription, UserEnvelope[]>();
  /** Subscriptions to replay once more when their running replay ends. */
  private readonly again = new Set<Subscription>();
  /**
   * Connections written to for bus deliveries, with the number of the last such
   * write; an entry goes once a settled() saw it drain without a newer write.
   */
  private readonly unsettled = new Map<Connection, number>();
  /**
   * Client-ack deliveries whose write-ahead append failed, by subscription and
   * message id: a repeat of that message (its sender retries because the append
   * failed) writes it again instead of being skipped as already taken. An entry
   * lives until the message is ACKed or NACKed (or its session ends, which NACKs).
   */
  private readonly unwritten = new Map<Subscription, Map<string, () => Promise<void>>>();
  private writeNo = 0;

  constructor(deps: DispatcherDeps) {
    this.d = deps;
    this.keep = deps.config.inbox.destinations.map((p) => compilePattern(p));
  }

  /** Is a message to `/user` + `path` kept in the inbox when undeliverable? */
  keepable(path: string): boolean {
    const full = this.d.config.userPrefix + path;
    return this.keep.some((p) => p.match(full) !== null);
  }

  /** Origin side: route an envelope accepted on this node. */
  async route(env: UserEnvelope): Promise<void> {
    // One node: nobody else to ask.
    const nodes = this.d.clustered ? await this.d.registry.nodesOf(env.user) : [];
    const writeAheads: Array<Promise<void>> = [];
    const delivered = this.deliverLocal(env, writeAheads, false);
    const remote = nodes.filter((n) => n !== this.d.nodeId);
    const work = remote.map((n) => this.sendTo(n, env));
    if (remote.length === 0 && delivered === 0) work.push(this.toInbox(env));
    // One await for everything started: a failure (a write-ahead refused by the memory budget)
    // reaches the caller, and no other rejection is left unhandled.
    await Promise.all([...work, ...writeAheads]);
  }

  /**
   * Receiving side: an envelope for a user arrived on this node's topic.
   * Local deliveries finish synchronously (nothing returned); the bus commits
   * the offset only after settled(), i.e. once the bytes written for it have
   * left the process (a crash after that loses nothing).
   */
  receive(env: UserEnvelope): Promise<void> | void {
    const user = env.user;
    if (this.d.users.has(user)) {
      const waits: Array<Promise<void>> = [];
      if (this.deliverLocal(env, waits, true) === 0) waits.push(this.toInbox(env));
      if (waits.length > 0) return Promise.all(waits).then(() => undefined);
      return;
    }
    return this.forward(env);
  }

  /**
   * Resolves once every socket written to for a bus delivery before this call
   * has handed its bytes to the kernel (the bus awaits it before committing).
   */
  settled(): Promise<void> {
    if (this.unsettled.size === 0) return Promise.resolve();
    // Every caller (the main consumer's commit, a drain's) waits for all of them:
    // nothing is taken out before it drained, so one caller never hides a write from another.
    const waits: Array<Promise<void>> = [];
    for (const [conn, no] of this.unsettled) {
      const forget = (): void => {
        if (this.unsettled.get(conn) === no) this.unsettled.delete(conn);
      };
      const f = conn.flushed?.();
      if (f) waits.push(f.then(forget));
      else forget();
    }
    return Promise.all(waits).then(() => undefined);
  }

  /** A session's connection closed: nothing more will leave through it. */
  forgetConnection(conn: Connection): void {
    this.unsettled.delete(conn);
  }

  /** The user is not here (any more): look again and forward, bounded. */
  private async forward(env: UserEnvelope): Promise<void> {
    const user = env.user;
    if (env.hops >= this.d.config.cluster.maxHops) {
      this.d.log.warn({ id: env.id, user, hops: env.hops }, 'hop limit reached; message goes to the inbox');
      await this.toInbox(env);
      return;
    }
    const nodes = (await this.d.registry.nodesOf(user, { fresh: true })).filter((n) => n !== this.d.nodeId);
    if (nodes.length === 0) {
      await this.toInbox(env);
      return;
    }
    const next: UserEnvelope = { ...env, hops: env.hops + 1 };
    this.counters.forwarded++;
    this.counters.hops++;
    await Promise.all(nodes.map((n) => this.sendTo(n, next)));
  }

  /** Re-route an envelope recovered from a dead node's topic: as if accepted here. */
  async reroute(env: Envelope): Promise<void> {
    if (env.kind !== 'user') return;
    await this.route({ ...env, hops: env.hops + 1 });
  }

  private async sendTo(nodeId: string, env: UserEnvelope): Promise<void> {
    try {
      await this.d.bus.sendToNode(nodeId, env);
      this.counters.sentRemote++;
    } catch (err) {
      // The node (or its topic) is gone: keep the message for the user.
      this.d.log.warn({ err, node: nodeId, id: env.id }, 'could not send to node; message goes to the inbox');
      await this.toInbox(env);
    }
  }

  /**
   * Deliver to this node's sessions of env.user subscribed to env.destination.
   * Returns the subscriptions reached; `waits` collects the client-ack write-ahead
   * appends; with `flush` (bus deliveries, whose offset is committed after
   * settled()) the connections written to are remembered for settled().
   */
  deliverLocal(env: UserEnvelope, waits: Array<Promise<void>>, flush: boolean): number {
    const subs = this.d.users.match(env.user, env.destination);
    if (subs.length === 0) return 0;
    let n = 0;
    for (const sub of subs) {
      const route = sub.route;
      if (route?.kind !== 'user') continue;
      const waiting = this.replaying.get(sub);
      if (waiting) {
        waiting.push(env);
        n++;
        continue;
      }
      if (this.offer(sub, route, env, waits)) {
        n++;
        if (flush) this.unsettled.set(sub.session.conn, ++this.writeNo);
      }
    }
    this.counters.deliveredLocal += n;
    return n;
  }

  private delivery(sub: Subscription, route: UserRoute, env: UserEnvelope, replayEntry?: { onAck: () => void }): Delivery {
    const destination = route.pattern ? route.userPrefix + env.destination : sub.destination;
    const headers = replayEntry ? { ...env.headers, [REPLAY_HEADER]: 'true' } : env.headers;
    // A repeat of the same envelope is possible only in a cluster (at-least-once bus, forwarding,
    // inbox copies), with client acks (write-ahead copies) or on replay; a single node in auto
    // mode never offers one session the same envelope twice, so it skips the bookkeeping.
    const dedupe = this.d.clustered || replayEntry !== undefined || sub.ack !== 'auto';
    const d: Delivery = { messageId: env.id, destination, headers, body: env.body, dedupe };
    // A replayed message leaves the inbox once delivered (auto) or ACKed.
    if (replayEntry) d.onAck = replayEntry.onAck;
    return d;
  }

  /**
   * Hand a live message to `sub`'s session. In a client ack mode on an inbox
   * destination, once the session took it, it is written ahead to the inbox and
   * waits there until ACKed, so a NACK, a session that ends, or a node that
   * crashes before the ACK leaves it there for replay (a message the session
   * did not take, a repeat for one, is not written). `pending` collects the
   * append, which the caller awaits (its failure reaches the sender).
   */
  private offer(sub: Subscription, route: UserRoute, env: UserEnvelope, pending?: Array<Promise<void>>): boolean {
    // A repeat of what this subscription already has (the bus delivers at least once): taken
    // already, so neither offered again nor kept in the inbox as if nobody had taken it.
    if (sub.seen?.has(env.id)) {
      // ... unless its write-ahead failed: then this repeat writes it again.
      const rewrite = this.unwritten.get(sub)?.get(env.id);
      if (rewrite) {
        const again = rewrite();
        pending?.push(again);
      }
      return true;
    }
    const d = this.delivery(sub, route, env);
    if (!sub.session.deliver(sub, d)) return false;
    if (sub.ack === 'auto' || !this.keepable(env.destination)) return true;
    const user = route.user;
    let entry: Promise<string>;
    let settled = false;
    const write = (): Promise<void> => {
      this.forgetUnwritten(sub, env.id);
      entry = this.d.inbox.append(user, env, { writeAhead: true });
      const written = entry.then(
        () => undefined,
        (err: unknown) => {
          if (settled) throw err;
          let m = this.unwritten.get(sub);
          if (!m) this.unwritten.set(sub, (m = new Map()));
          m.set(env.id, write);
          throw err;
        },
      );
      // Handled here in any case (its failure reaches the sender through `pending`, where there is one).
      written.catch(() => undefined);
      return written;
    };
    const written = write();
    pending?.push(written);
    const remove = (): void => void entry.then((id) => this.d.inbox.remove(user, [id])).catch((err: unknown) => this.d.log.error({ err, user }, 'inbox remove failed'));
    // The session calls these only after an ACK or NACK (or its end), never within deliver().
    d.onAck = () => {
      settled = true;
      this.forgetUnwritten(sub, env.id);
      remove();
    };
    // NACK: redelivered from the inbox (requeue:false: dropped like an ACK).
    d.onNack = (requeue) => {
      settled = true;
      this.forgetUnwritten(sub, env.id);
      if (!requeue) return remove();
      void entry.then(() => this.nudge(user)).catch((err: unknown) => this.d.log.error({ err, user }, 'inbox nudge failed'));
    };
    return true;
  }

  private forgetUnwritten(sub: Subscription, id: string): void {
    const m = this.unwritten.get(sub);
    if (m?.delete(id) && m.size === 0) this.unwritten.delete(sub);
  }

  /** Keep an undeliverable message in the user's inbox, then nudge any session that appeared meanwhile. */
  async toInbox(env: UserEnvelope): Promise<void> {
    if (!this.keepable(env.destination)) {
      this.counters.dropped++;
      this.d.log.debug({ id: env.id, user: env.user, destination: env.destination }, 'undeliverable message dropped (not an inbox destination)');
      return;
    }
    await this.d.inbox.append(env.user, env);
    this.counters.inboxed++;
    // A session may have subscribed between our lookup and the append: make its node replay.
    await this.nudge(env.user);
  }

  /** Make every node holding a session of `user` replay the user's inbox. */
  private async nudge(user: string): Promise<void> {
    const nodes = await this.d.registry.nodesOf(user, { fresh: true });
    for (const n of nodes) {
      if (n === this.d.nodeId) void this.replayUser(user);
      else
        await this.d.bus
          .sendToNode(n, this.d.envelopes.event(user, EVENT_INBOX_REPLAY))
          .catch(() => undefined);
    }
  }

  /** Replay the inbox to every local inbox-eligible subscription of `user`. */
  async replayUser(user: string): Promise<void> {
    for (const s of this.d.users.sessionsOf(user)) {
      for (const sub of s.subscriptions.values()) {
        const route = sub.route;
        if (route?.kind !== 'user' || !this.keepable(route.path)) continue;
        // A replay already reading may have missed what was just appended: run again after it.
        if (this.replaying.has(sub)) this.again.add(sub);
        else await this.replay(sub, route);
      }
    }
  }

  /**
   * Replay waiting messages to a new subscription, in order, before any live
   * message that arrives meanwhile (those wait behind the replay).
   */
  async replay(sub: Subscription, route: UserRoute): Promise<void> {
    if (!this.keepable(route.path) && !route.pattern) return;
    const waiting: UserEnvelope[] = [];
    this.replaying.set(sub, waiting);
    try {
      const entries = await this.d.inbox.read(route.user, 10_000);
      const done: string[] = [];
      let batching = true;
      for (const e of entries) {
        if (!sub.route) break; // unsubscribed or closed meanwhile: the rest stays in the inbox
        if (route.pattern ? !route.pattern.match(e.env.destination) : e.env.destination !== route.path) continue;
        const onAck = (): void => {
          if (batching) done.push(e.entryId);
          else void this.d.inbox.remove(route.user, [e.entryId]).catch(() => undefined);
        };
        if (sub.session.deliver(sub, this.delivery(sub, route, e.env, { onAck }))) this.counters.replayed++;
        // Already seen by this session: drop the entry, unless it is this session's unacked write-ahead copy.
        else if (sub.session.state === 'connected' && !sub.session.holdsUnacked(sub, e.env.id)) done.push(e.entryId);
      }
      batching = false;
      if (done.length > 0) await this.d.inbox.remove(route.user, done);
    } catch (err) {
      this.d.log.error({ err, user: route.user }, 'inbox replay failed');
    } finally {
      this.replaying.delete(sub);
      for (const env of waiting) {
        // The subscription may have ended during the replay: keep what waited behind it.
        if (sub.route && this.offer(sub, route, env)) this.counters.deliveredLocal++;
        else await this.toInbox(env).catch((err: unknown) => this.d.log.error({ err, id: env.id }, 'inbox append failed'));
      }
    }
    if (this.again.delete(sub) && sub.session.isConnected && sub.session.subscriptions.get(sub.id) === sub) await this.replay(sub, route);
  }
}

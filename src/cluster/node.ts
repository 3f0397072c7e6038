/**
 * This node's part in a cluster (docs/design.md "Delivery guarantees"):
 *  - liveness and the survivors' duty towards dead nodes (Membership);
 *  - what every node can do (features): envelope batches only to nodes that
 *    read them, the registry look-up cache only while every node announces
 *    its registry changes (docs/design.md "Rolling upgrades");
 *  - a registry that lost its state (Redis restarted empty): this node's
 *    sessions and liveness are registered again and waiting inboxes replayed;
 *  - leaving without losing or reordering anything (handOff).
 * A single node has none of this: the broker makes a ClusterNode only when
 * its backends form a cluster.
 */
import type { Logger } from 'pino';
import type { ClusterOptions } from '../config.js';
import { type ClusterFeatures, NODE_FEATURES } from './features.js';
import { Membership } from './membership.js';
import type { Bus, Envelope, EnvelopeHandler, Registry } from './types.js';

/** What the cluster side needs to know of a local session. */
export interface LocalSession {
  readonly id: string;
  readonly user: string | null;
  readonly connectedAt: number;
  readonly isConnected: boolean;
}

export interface ClusterNodeDeps {
  nodeId: string;
  registry: Registry;
  bus: Bus;
  options: ClusterOptions;
  /** Announced in the liveness meta (`version`). */
  serverName: string;
  log: Logger;
  /** This node's sessions, now. */
  sessions(): Iterable<LocalSession>;
  /** Registry removals of closed sessions still in flight. */
  removals(): Iterable<Promise<void>>;
  /** Route an envelope recovered from a dead node's topic. */
  reroute(env: Envelope): Promise<void>;
  /** Replay `user`'s inbox to its local sessions. */
  replayUser(user: string): Promise<void>;
}

export class ClusterNode {
  private readonly d: ClusterNodeDeps;
  private readonly membership: Membership;
  /** What every node can do, as membership last read it (nothing until then: no batches, no cache). */
  private features: ClusterFeatures = { nodes: new Map(), common: new Set() };
  private running = false;

  constructor(deps: ClusterNodeDeps) {
    this.d = deps;
    this.membership = new Membership({
      nodeId: deps.nodeId,
      registry: deps.registry,
      bus: deps.bus,
      options: deps.options,
      log: deps.log,
      meta: {
        started: String(Date.now()),
        pid: String(process.pid),
        version: deps.serverName,
        features: (deps.options.features ?? NODE_FEATURES).join(','),
      },
      reroute: (env) => deps.reroute(env),
      onFeatures: (f) => {
        this.features = f;
        deps.registry.permitCache?.(f.common.has('registry-notify'));
      },
    });
  }

  /** May envelopes to `node` (null: the broadcast topic) share one bus message? Only where every receiver reads batches. */
  batching(node: string | null): boolean {
    return node === null ? this.features.common.has('envelope-batch') : this.features.nodes.get(node)?.has('envelope-batch') === true;
  }

  /** Join: liveness, the features of the others, and re-registration after a registry reset. (The bus is started before.) */
  async start(): Promise<void> {
    this.d.registry.permitCache?.(false); // until membership has read what every node can do
    await this.membership.start();
    this.running = true;
    this.d.registry.onReset?.(() => void this.reassert());
  }

  /** Dead nodes taken over by this node, and the messages recovered from them. */
  get takeovers(): { takeovers: number; recovered: number } {
    return { takeovers: this.membership.takeovers, recovered: this.membership.recovered };
  }

  /** Look for dead nodes now (tests; otherwise every DEAD_NODE_CHECK_MS). */
  checkDead(): Promise<void> {
    return this.membership.checkDead();
  }

  /**
   * The registry may have lost its state (Redis restarted without persistence):
   * register this node's sessions and liveness again, then replay any inbox that
   * filled while its users looked offline.
   */
  async reassert(): Promise<void> {
    if (!this.running) return;
    try {
      await this.membership.beat();
      const users = new Set<string>();
      let sessions = 0;
      for (const s of this.d.sessions()) {
        const user = s.user;
        sessions++;
        if (!user || !s.isConnected) continue;
        users.add(user);
        await this.d.registry.addSession({ sessionId: s.id, user, nodeId: this.d.nodeId, connectedAt: s.connectedAt });
      }
      for (const u of users) await this.d.replayUser(u);
      this.d.log.info({ sessions, users: users.size }, 're-registered sessions after a registry reset');
    } catch (err) {
      this.d.log.error({ err }, 're-registering sessions failed');
    }
  }

  /**
   * Leave the cluster without losing or reordering anything:
   *  1. deregister every local session, so senders stop choosing this node
   *     (meanwhile those users' messages wait, in order, in their inboxes);
   *  2. deliver what is still in this node's topic to the sessions, which are
   *     still open (`handler`), and forward or keep what no session here takes;
   *  3. only then does the broker tell clients to reconnect; their next
   *     subscription replays the inbox before any live message.
   * Returns false if the topic could not be handed over (a survivor takes it over).
   */
  async handOff(handler: EnvelopeHandler): Promise<boolean> {
    const { registry, bus, nodeId, log } = this.d;
    const deregister: Array<Promise<void>> = [];
    for (const s of this.d.sessions()) {
      const user = s.user;
      if (user && s.isConnected) deregister.push(registry.removeSession(user, s.id, nodeId));
    }
    await Promise.allSettled([...deregister, ...this.d.removals()]);
    try {
      let n: number;
      if (bus.leave) n = await bus.leave(handler);
      else {
        await bus.close({ deleteOwnTopic: false });
        n = await bus.drainNode(nodeId, handler);
      }
      log.info({ handedOver: n }, 'left the cluster; pending messages delivered or handed on');
      return true;
    } catch (err) {
      log.error({ err }, "hand-over of this node's topic failed; survivors will take it over when its liveness expires");
      await bus.close().catch(() => undefined);
      return false;
    }
  }

  /** Stop heart-beating; forget this node only if nothing was left behind (else a survivor must act for it). */
  async stop(handedOver: boolean): Promise<void> {
    this.running = false;
    await Promise.allSettled([...this.d.removals()]);
    await this.membership.stop(handedOver);
  }
}

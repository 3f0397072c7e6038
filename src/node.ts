/**
 * One node as its host (createBroker) holds it: made before it listens, so
 * routes, handlers and the transports can be set up; its broker core is
 * built once, in start(), on the backends chosen then and never swapped:
 * the ones given, or Redis and Kafka when the configuration names both, or
 * memory. Until then, and after stop(), it takes no connections; operations
 * before start() fail. The transports, the HTTP API and /metrics see it only
 * as SessionOpener, BrokerView and BrokerOps.
 */
import type { Logger } from 'pino';
import { Broker, type Backends } from './broker/broker.js';
import type { AppHandlers } from './broker/app-handlers.js';
import type { BrokerOps, BrokerView, NodeSnapshot, Presence } from './broker/view.js';
import type { BrokerConfig } from './config.js';
import { createClusterBackends } from './cluster/factory.js';
import { MemoryBus } from './cluster/memory/bus.js';
import { MemoryRegistry } from './cluster/memory/registry.js';
import type { NodeInfo } from './cluster/types.js';
import type { BrokerBackends, BrokerHooks } from './options.js';
import type { Connection, SessionOpener } from './session/connection.js';
import type { Session } from './session/session.js';

/** The one place that decides what a node runs on, and so whether it is a cluster node. */
export async function chooseBackends(config: BrokerConfig, given: BrokerBackends, log: Logger): Promise<Backends> {
  if (given.registry || given.bus) {
    return { registry: given.registry ?? new MemoryRegistry(), bus: given.bus ?? new MemoryBus(), inbox: given.inbox ?? null, clustered: true };
  }
  if (config.redisUrl !== null && config.kafkaBrokers !== null) {
    const made = await createClusterBackends(config, log);
    return { registry: made.registry, bus: made.bus, inbox: given.inbox ?? made.inbox, clustered: true };
  }
  return { registry: new MemoryRegistry(), bus: new MemoryBus(), inbox: given.inbox ?? null, clustered: false };
}

const EMPTY: NodeSnapshot = {
  sessions: 0,
  users: 0,
  subscriptions: 0,
  framesIn: 0,
  framesOut: 0,
  heartbeatsIn: 0,
  heartbeatsOut: 0,
  sessionsOpened: 0,
  topicDeliveries: 0,
  handlerErrors: 0,
  errors: new Map(),
  dispatch: { deliveredLocal: 0, forwarded: 0, sentRemote: 0, hops: 0, inboxed: 0, replayed: 0, dropped: 0 },
  takeovers: 0,
  recovered: 0,
  busLag: 0,
  cache: null,
  held: { byKind: new Map(), limit: 0, refusals: new Map() },
  queueDrops: { depth: 0, age: 0, nack: 0 },
};

export class NodeHost implements SessionOpener, BrokerView, BrokerOps {
  private broker: Broker | null = null;

  constructor(
    readonly nodeId: string,
    private readonly config: BrokerConfig,
    private readonly log: Logger,
    private readonly handlers: AppHandlers,
    private readonly hooks: BrokerHooks,
  ) {}

  /** The broker core, once started (the project's tests reach it through src/internals.ts). */
  get core(): Broker | null {
    return this.broker;
  }

  /** Build the core on the backends chosen now, and start it. */
  async start(given: BrokerBackends): Promise<Broker> {
    if (this.broker) throw new Error('the node was started already');
    const backends = await chooseBackends(this.config, given, this.log);
    const broker = new Broker(this.config, { log: this.log, nodeId: this.nodeId, backends, handlers: this.handlers, ...this.hooks });
    this.broker = broker;
    try {
      await broker.start();
    } catch (err) {
      // A node that failed to start is not started (listen() may be called again).
      this.broker = null;
      throw err;
    }
    return broker;
  }

  private started(what: string): Broker {
    if (!this.broker) throw new Error(`${what}: the broker is not listening yet (call listen() first)`);
    return this.broker;
  }

  // SessionOpener
  get accepting(): boolean {
    return this.broker?.accepting ?? false;
  }

  openSession(conn: Connection): Session {
    return this.started('openSession').openSession(conn);
  }

  // BrokerView
  get clustered(): boolean {
    return this.broker?.clustered ?? false;
  }

  get sessionCount(): number {
    return this.broker?.sessionCount ?? 0;
  }

  snapshot(): NodeSnapshot {
    return this.broker?.snapshot() ?? EMPTY;
  }

  async presence(user: string): Promise<Presence> {
    return this.started('presence').presence(user);
  }

  async nodes(): Promise<NodeInfo[]> {
    return this.started('nodes').nodes();
  }

  // BrokerOps
  async sendToUser(user: string, destination: string, body: unknown, headers?: Record<string, string>): Promise<void> {
    return this.started('sendToUser').sendToUser(user, destination, body, headers);
  }

  async publish(destination: string, body: unknown, headers?: Record<string, string>): Promise<void> {
    return this.started('publish').publish(destination, body, headers);
  }

  async kick(user: string): Promise<number> {
    return this.started('kick').kick(user);
  }
}

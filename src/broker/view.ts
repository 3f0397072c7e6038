/**
 * What the HTTP side (API, /metrics, /health) may see of a node: a narrow,
 * read-only view, and the few operations the HTTP API offers. It never
 * reaches the broker's insides.
 */
import type { NodeInfo, RegistryCacheStats } from '../cluster/types.js';
import type { HeldKind, RefusalReason } from './budget.js';
import type { DispatchCounters } from './dispatcher.js';

/** The node's counters and gauges at one moment (one /metrics scrape reads one). */
export interface NodeSnapshot {
  sessions: number;
  users: number;
  subscriptions: number;
  framesIn: number;
  framesOut: number;
  heartbeatsIn: number;
  heartbeatsOut: number;
  sessionsOpened: number;
  topicDeliveries: number;
  handlerErrors: number;
  /** ERROR frames sent, by code. */
  errors: ReadonlyMap<string, number>;
  dispatch: Readonly<DispatchCounters>;
  takeovers: number;
  recovered: number;
  busLag: number;
  /** The registry look-up cache, when the registry has one. */
  cache: RegistryCacheStats | null;
  held: { byKind: ReadonlyMap<HeldKind, number>; limit: number; refusals: ReadonlyMap<RefusalReason, number> };
  queueDrops: { depth: number; age: number; nack: number };
}

/** Where a user is connected, cluster-wide, and what waits for them. */
export interface Presence {
  sessions: Array<{ sessionId: string; nodeId: string; connectedAt: number }>;
  nodes: string[];
  inbox: number;
}

export interface BrokerView {
  readonly nodeId: string;
  /** Whether this node is part of a cluster (Redis registry, Kafka bus). */
  readonly clustered: boolean;
  /** Whether it takes new connections (false before start and while draining). */
  readonly accepting: boolean;
  readonly sessionCount: number;
  snapshot(): NodeSnapshot;
  presence(user: string): Promise<Presence>;
  /** Every node of the cluster (this one alone on a single node). */
  nodes(): Promise<NodeInfo[]>;
}

/** What the HTTP API may do. */
export interface BrokerOps {
  sendToUser(user: string, destination: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  publish(destination: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  /** Close every session of `user` on every node; returns how many were closed here. */
  kick(user: string): Promise<number>;
}

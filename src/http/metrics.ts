/**
 * /metrics in Prometheus text format (prom-client). Values are read from the
 * broker's plain counters at scrape time, so the hot path pays nothing for
 * observability beyond an integer increment.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { Broker } from '../broker/broker.js';
import type { MetricsOptions } from '../config.js';
import { bearerMatches } from './bearer.js';

type Reader = () => number;

/** Reads from the transport layer (the node's connection cap), when there is one. */
export interface ConnectionStats {
  readonly size: number;
  readonly refused: number;
}

export function createMetricsRegistry(broker: Broker, connections: ConnectionStats | null = null): client.Registry {
  const registry = new client.Registry();
  registry.setDefaultLabels({ node: broker.nodeId });
  // prom-client's own names (process_*, nodejs_*), prefixed once: stomp_process_cpu_user_seconds_total.
  client.collectDefaultMetrics({ register: registry, prefix: 'stomp_' });

  const counter = (name: string, help: string, read: Reader): void => {
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  };
  const gauge = (name: string, help: string, read: Reader): void => {
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  const c = broker.counters;
  const d = (): typeof broker.dispatcher.counters => broker.dispatcher.counters;
  gauge('stomp_sessions', 'Open STOMP sessions on this node', () => broker.sessions.size);
  gauge('stomp_users', 'Users with at least one session on this node', () => broker.users.userCount);
  gauge('stomp_subscriptions', 'Subscriptions held by sessions on this node', () => broker.subscriptionCount());
  counter('stomp_sessions_opened_total', 'Sessions opened', () => c.sessionsOpened);
  counter('stomp_frames_in_total', 'STOMP frames received', () => c.framesIn);
  counter('stomp_frames_out_total', 'STOMP frames sent', () => c.framesOut);
  counter('stomp_heartbeats_in_total', 'Heart-beats received', () => c.heartbeatsIn);
  counter('stomp_heartbeats_out_total', 'Heart-beats sent', () => c.heartbeatsOut);
  counter('stomp_messages_delivered_local_total', 'User-destination messages written to local sessions', () => d().deliveredLocal);
  counter('stomp_topic_deliveries_total', 'Topic messages written to local subscribers', () => c.topicDeliveries);
  counter('stomp_messages_sent_remote_total', 'Envelopes sent to other nodes', () => d().sentRemote);
  counter('stomp_messages_forwarded_total', 'Envelopes forwarded because the user had moved', () => d().forwarded);
  counter('stomp_hops_total', 'Forwarding hops taken', () => d().hops);
  counter('stomp_inbox_appended_total', 'Messages put in a user inbox', () => d().inboxed);
  counter('stomp_inbox_replayed_total', 'Messages replayed from an inbox', () => d().replayed);
  counter('stomp_messages_dropped_total', 'Undeliverable messages dropped (not inbox destinations)', () => d().dropped);
  counter('stomp_handler_errors_total', 'Application handler failures', () => c.handlerErrors);
  counter('stomp_node_takeovers_total', 'Dead nodes taken over by this node', () => broker.membershipInfo.takeovers);
  counter('stomp_node_recovered_messages_total', 'Messages recovered from dead nodes', () => broker.membershipInfo.recovered);
  gauge('stomp_bus_lag', 'Messages waiting in this node\'s bus topic (Kafka consumer lag; 0 for memory)', () => broker.busLag());
  const cache = (): ReturnType<NonNullable<typeof broker.registry.cacheStats>> | undefined => broker.registry.cacheStats?.();
  counter('stomp_registry_cache_hits_total', 'Registry look-ups (which nodes hold a user) answered from the cache', () => cache()?.hits ?? 0);
  counter('stomp_registry_cache_misses_total', 'Registry look-ups that read Redis', () => cache()?.misses ?? 0);
  counter('stomp_registry_cache_invalidations_total', 'Registry change notices received (Redis pub/sub)', () => cache()?.invalidations ?? 0);
  gauge('stomp_registry_cache_users', 'Users held in the registry look-up cache', () => cache()?.size ?? 0);
  gauge('stomp_registry_cache_enabled', '1 while the registry look-up cache answers (its invalidation channel is subscribed)', () => (cache()?.enabled ? 1 : 0));
  const budget = broker.budget;
  new client.Gauge({
    name: 'stomp_held_bytes',
    help: 'Bytes held for absent consumers, by kind (queue backlogs and unacked queue messages, memory inboxes, open transactions)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const [kind, n] of budget.byKind()) this.set({ kind }, n);
    },
  });
  gauge('stomp_held_bytes_limit', 'The node memory budget for held messages (STOMP_MAX_HELD_BYTES)', () => budget.limits.maxHeldBytes);
  new client.Counter({
    name: 'stomp_held_refusals_total',
    help: 'Messages refused because the node memory budget (memory_budget) or the sender quota (sender_quota) was full',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of budget.refusals()) this.inc({ reason }, n);
    },
  });
  const q = broker.queues;
  new client.Counter({
    name: 'stomp_queue_messages_dropped_total',
    help: 'Queue messages dropped: backlog full (depth), too old (age), NACKed with requeue:false (nack)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'depth' }, q.dropped);
      this.inc({ reason: 'age' }, q.expired);
      this.inc({ reason: 'nack' }, q.rejected);
    },
  });
  if (connections) {
    gauge('stomp_connections', 'Open connections over the HTTP/WebSocket and TCP listeners', () => connections.size);
    counter('stomp_connections_refused_total', 'Connections dropped at the connection limit (STOMP_MAX_CONNECTIONS)', () => connections.refused);
  }
  new client.Counter({
    name: 'stomp_errors_total',
    help: 'ERROR frames sent, by code',
    labelNames: ['code'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [code, n] of c.errors) this.inc({ code }, n);
    },
  });
  return registry;
}

/**
 * Serve /metrics: on the main app, or (metrics.port set) on a listener of its
 * own that serves nothing else; with metrics.token, only to that bearer.
 * Returns the separate listener when there is one (started by listen()).
 */
export function registerMetrics(
  app: FastifyInstance,
  broker: Broker,
  opts: MetricsOptions,
  requestTimeoutMs: number,
  connections: ConnectionStats | null,
): MetricsListener | null {
  const registry = createMetricsRegistry(broker, connections);
  if (opts.port !== null) return new MetricsListener(registry, opts, requestTimeoutMs);
  app.get('/metrics', async (req, reply) => {
    if (opts.token !== null && !bearerMatches(req.headers.authorization, opts.token))
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return null;
}

/** /metrics alone on its own port (METRICS_PORT), e.g. reachable only from the monitoring network. */
export class MetricsListener {
  private readonly server: http.Server;

  constructor(
    private readonly registry: client.Registry,
    private readonly opts: MetricsOptions,
    requestTimeoutMs: number,
  ) {
    this.server = http.createServer({ requestTimeout: requestTimeoutMs, headersTimeout: Math.min(60_000, requestTimeoutMs) }, (req, res) => void this.serve(req, res));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    if (this.opts.token !== null && !bearerMatches(req.headers.authorization, this.opts.token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('Unauthorized');
      return;
    }
    try {
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
    } catch {
      res.writeHead(500).end();
    }
  }

  /** Listen on metrics.port at metrics.host (or `defaultHost`); resolves with the port. */
  listen(defaultHost: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.host ?? defaultHost, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

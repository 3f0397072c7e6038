/**
 * /metrics in Prometheus text format (prom-client). Values are read from the
 * broker's plain counters at scrape time, so the hot path pays nothing for
 * observability beyond an integer increment.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import client from 'prom-client';
import type { BrokerView, NodeSnapshot } from '../broker/view.js';
import type { MetricsOptions } from '../config.js';
import { bearerMatches } from './bearer.js';


/** Reads from the transport layer (the node's connection cap), when there is one. */
export interface ConnectionStats {
  readonly size: number;
  readonly refused: number;
}

/**
 * A Prometheus registry over `view`. Every value of one scrape comes from one
 * snapshot of the node (taken by scrape(), so the sessions are walked once
 * per scrape, not once per metric).
 */
export function createMetricsRegistry(view: BrokerView, connections: ConnectionStats | null = null): { registry: client.Registry; scrape(): Promise<string> } {
  const registry = new client.Registry();
  registry.setDefaultLabels({ node: view.nodeId });
  // prom-client's own names (process_*, nodejs_*), prefixed once: stomp_process_cpu_user_seconds_total.
  client.collectDefaultMetrics({ register: registry, prefix: 'stomp_' });
  let snap: NodeSnapshot | null = null;
  const now = (): NodeSnapshot => (snap ??= view.snapshot());

  const counter = (name: string, help: string, read: (s: NodeSnapshot) => number): void => {
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(now()));
      },
    });
  };
  const gauge = (name: string, help: string, read: (s: NodeSnapshot) => number): void => {
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(now()));
      },
    });
  };
  /** A counter with one label, from a map read off the snapshot. */
  const labelled = (name: string, help: string, label: string, read: (s: NodeSnapshot) => Iterable<[string, number]>): void => {
    new client.Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of read(now())) this.inc({ [label]: value }, n);
      },
    });
  };
  gauge('stomp_sessions', 'Open STOMP sessions on this node', (s) => s.sessions);
  gauge('stomp_users', 'Users with at least one session on this node', (s) => s.users);
  gauge('stomp_subscriptions', 'Subscriptions held by sessions on this node', (s) => s.subscriptions);
  counter('stomp_sessions_opened_total', 'Sessions opened', (s) => s.sessionsOpened);
  counter('stomp_frames_in_total', 'STOMP frames received', (s) => s.framesIn);
  counter('stomp_frames_out_total', 'STOMP frames sent', (s) => s.framesOut);
  counter('stomp_heartbeats_in_total', 'Heart-beats received', (s) => s.heartbeatsIn);
  counter('stomp_heartbeats_out_total', 'Heart-beats sent', (s) => s.heartbeatsOut);
  counter('stomp_messages_delivered_local_total', 'User-destination messages written to local sessions', (s) => s.dispatch.deliveredLocal);
  counter('stomp_topic_deliveries_total', 'Topic messages written to local subscribers', (s) => s.topicDeliveries);
  counter('stomp_messages_sent_remote_total', 'Envelopes sent to other nodes', (s) => s.dispatch.sentRemote);
  counter('stomp_messages_forwarded_total', 'Envelopes forwarded because the user had moved', (s) => s.dispatch.forwarded);
  counter('stomp_hops_total', 'Forwarding hops taken', (s) => s.dispatch.hops);
  counter('stomp_inbox_appended_total', 'Messages put in a user inbox', (s) => s.dispatch.inboxed);
  counter('stomp_inbox_replayed_total', 'Messages replayed from an inbox', (s) => s.dispatch.replayed);
  counter('stomp_messages_dropped_total', 'Undeliverable messages dropped (not inbox destinations)', (s) => s.dispatch.dropped);
  counter('stomp_handler_errors_total', 'Application handler failures', (s) => s.handlerErrors);
  counter('stomp_node_takeovers_total', 'Dead nodes taken over by this node', (s) => s.takeovers);
  counter('stomp_node_recovered_messages_total', 'Messages recovered from dead nodes', (s) => s.recovered);
  gauge('stomp_bus_lag', "Messages waiting in this node's bus topic (Kafka consumer lag; 0 for memory)", (s) => s.busLag);
  counter('stomp_registry_cache_hits_total', 'Registry look-ups (which nodes hold a user) answered from the cache', (s) => s.cache?.hits ?? 0);
  counter('stomp_registry_cache_misses_total', 'Registry look-ups that read Redis', (s) => s.cache?.misses ?? 0);
  counter('stomp_registry_cache_invalidations_total', 'Registry change notices received (Redis pub/sub)', (s) => s.cache?.invalidations ?? 0);
  gauge('stomp_registry_cache_users', 'Users held in the registry look-up cache', (s) => s.cache?.size ?? 0);
  gauge('stomp_registry_cache_enabled', '1 while the registry look-up cache answers (its invalidation channel is subscribed)', (s) => (s.cache?.enabled ? 1 : 0));
  new client.Gauge({
    name: 'stomp_held_bytes',
    help: 'Bytes held for absent consumers, by kind (queue backlogs and unacked queue messages, memory inboxes, open transactions)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      for (const [kind, n] of now().held.byKind) this.set({ kind }, n);
    },
  });
  gauge('stomp_held_bytes_limit', 'The node memory budget for held messages (STOMP_MAX_HELD_BYTES)', (s) => s.held.limit);
  labelled(
    'stomp_held_refusals_total',
    'Messages refused because the node memory budget (memory_budget) or the sender quota (sender_quota) was full',
    'reason',
    (s) => s.held.refusals,
  );
  labelled('stomp_queue_messages_dropped_total', 'Queue messages dropped: backlog full (depth), too old (age), NACKed with requeue:false (nack)', 'reason', (s) =>
    Object.entries(s.queueDrops),
  );
  if (connections) {
    gauge('stomp_connections', 'Open connections over the HTTP/WebSocket and TCP listeners', () => connections.size);
    counter('stomp_connections_refused_total', 'Connections dropped at the connection limit (STOMP_MAX_CONNECTIONS)', () => connections.refused);
  }
  labelled('stomp_errors_total', 'ERROR frames sent, by code', 'code', (s) => s.errors);
  return {
    registry,
    async scrape() {
      snap = null;
      try {
        return await registry.metrics();
      } finally {
        snap = null;
      }
    },
  };
}

/**
 * Serve /metrics: on the main app, or (metrics.port set) on a listener of its
 * own that serves nothing else; with metrics.token, only to that bearer.
 * Returns the separate listener when there is one (started by listen()).
 */
export function registerMetrics(
  app: FastifyInstance,
  view: BrokerView,
  opts: MetricsOptions,
  requestTimeoutMs: number,
  connections: ConnectionStats | null,
): MetricsListener | null {
  const metrics = createMetricsRegistry(view, connections);
  if (opts.port !== null) return new MetricsListener(metrics, opts, requestTimeoutMs);
  app.get('/metrics', async (req, reply) => {
    if (opts.token !== null && !bearerMatches(req.headers.authorization, opts.token))
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
    reply.type(metrics.registry.contentType);
    return metrics.scrape();
  });
  return null;
}

/** Connections the separate metrics listener keeps open at most (a scraper or a few; past it, new ones are dropped). */
export const MAX_METRICS_CONNECTIONS = 64;

/**
 * /metrics alone on its own port (METRICS_PORT), e.g. reachable only from the
 * monitoring network. Outside the main listeners' connection cap, so bounded
 * by its own (MAX_METRICS_CONNECTIONS).
 */
export class MetricsListener {
  private readonly server: http.Server;

  constructor(
    private readonly metrics: ReturnType<typeof createMetricsRegistry>,
    private readonly opts: MetricsOptions,
    requestTimeoutMs: number,
  ) {
    this.server = http.createServer({ requestTimeout: requestTimeoutMs, headersTimeout: Math.min(60_000, requestTimeoutMs) }, (req, res) => void this.serve(req, res));
    this.server.maxConnections = MAX_METRICS_CONNECTIONS;
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
      const body = await this.metrics.scrape();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(body);
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

/**
 * The HTTP host: Fastify for HTTP routes, `ws` for WebSocket upgrades on each
 * endpoint (`/ws` and `/ws/websocket`, like Spring's addEndpoint("/ws").withSockJS()),
 * SockJS under each endpoint (`/ws/info`, `/ws/<server>/<session>/<transport>`; see
 * transport/sockjs.ts) unless `sockjs: false`, and the optional plain TCP listener.
 * Transports are thin adapters around the broker's sessions: they know the broker
 * only as a `SessionOpener` (src/session/connection.ts); this host also reads its `NodeStatus`.
 */
import type { IncomingMessage } from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { WebSocketServer } from 'ws';
import type { Logger } from 'pino';
import type { BrokerConfig } from './config.js';
import type { SessionOpener } from './session/connection.js';
import { attachWebSocket, selectSubprotocol } from './transport/websocket.js';
import { createTcpServer } from './transport/tcp.js';
import { SockJSEndpoints } from './transport/sockjs.js';
import { originPolicy } from './transport/origin.js';
import { ConnectionCap } from './transport/connection-cap.js';
import { admitUpgrade, refuseUpgrade, requestPath, type UpgradeChecks, type UpgradeHandler } from './transport/upgrade.js';

/** What /health and /ready report (NodeHost, src/node.ts, satisfies it structurally). */
export interface NodeStatus {
  readonly nodeId: string;
  /** Open sessions on this node. */
  readonly sessionCount: number;
  readonly accepting: boolean;
}

export interface ListenAddress {
  port: number;
  host: string;
  tcpPort: number | null;
  /** The address the TCP listener is bound to (STOMP_TCP_HOST, default HOST), else null. */
  tcpHost: string | null;
  /** The separate /metrics listener's port (METRICS_PORT), else null. */
  metricsPort: number | null;
}

function destroyOnError(this: Duplex): void {
  this.destroy();
}

export class StompServer {
  readonly app: FastifyInstance;
  readonly wss: WebSocketServer;
  private tcp: net.Server | null = null;
  private readonly wsPaths: Set<string>;
  /** What an upgrade on a WebSocket endpoint must pass (transport/upgrade.ts). */
  private readonly upgradeChecks: UpgradeChecks;
  /** Open connections over this node's listeners, bounded by http.maxConnections. */
  readonly connections: ConnectionCap;
  /** Extra upgrade handlers (SockJS) get a say for paths the WebSocket endpoints do not own. */
  private readonly upgradeHandlers: UpgradeHandler[] = [];
  /** SockJS endpoints (null when config.sockjs is false). */
  readonly sockjs: SockJSEndpoints | null = null;
  private address: ListenAddress | null = null;

  constructor(
    private readonly broker: SessionOpener & NodeStatus,
    private readonly cfg: BrokerConfig,
    private readonly log: Logger,
    /** The origin allow-list in effect (config.allowedOrigins, or its default: see transport/origin.ts). */
    allowedOrigins: readonly string[],
  ) {
    // Request logs are info level: the http child logger keeps warnings and errors only.
    const httpLog = log.child({ component: 'http' }, { level: 'warn' }) as unknown as FastifyBaseLogger;
    const requestTimeout = cfg.http.requestTimeoutMs;
    this.app = Fastify({
      loggerInstance: httpLog,
      forceCloseConnections: true,
      // A request must arrive whole in time: headers and then a body that never come must not hold a connection.
      requestTimeout,
      http: { headersTimeout: Math.min(60_000, requestTimeout), connectionsCheckingInterval: Math.min(1_000, requestTimeout) },
    });
    this.connections = new ConnectionCap(cfg.http.maxConnections, log);
    this.connections.watch(this.app.server);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: cfg.limits.maxWebSocketMessageBytes,
      perMessageDeflate: false,
      clientTracking: true,
      handleProtocols: (protocols) => selectSubprotocol(protocols),
    });
    this.wsPaths = new Set(cfg.endpoints.flatMap((e) => [e, `${e}/websocket`]));
    const origins = originPolicy(allowedOrigins);
    this.upgradeChecks = { opener: broker, origins, log };
    this.app.get('/health', async () => ({ status: 'ok', node: broker.nodeId, sessions: broker.sessionCount }));
    this.app.get('/ready', async (_req, reply) => {
      if (!broker.accepting) return reply.code(503).send({ status: 'draining', node: broker.nodeId });
      return { status: 'ready', node: broker.nodeId };
    });
    if (cfg.sockjs) this.sockjs = new SockJSEndpoints(this, broker, cfg, { log, origins });
  }

  addUpgradeHandler(h: UpgradeHandler): void {
    this.upgradeHandlers.push(h);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', destroyOnError); // not a closure: it would keep `req` alive for the whole session
    if (!this.wsPaths.has(requestPath(req))) {
      for (const h of this.upgradeHandlers) if (h(req, socket, head)) return;
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (!admitUpgrade(this.upgradeChecks, req, socket, 'websocket upgrade')) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => attachWebSocket(this.broker, ws, req));
  }

  async listen(): Promise<ListenAddress> {
    this.app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    await this.app.listen({ port: this.cfg.port, host: this.cfg.host });
    const a = this.app.server.address() as net.AddressInfo;
    let tcpPort: number | null = null;
    let tcpHost: string | null = null;
    if (this.cfg.tcpPort !== null) {
      const tcp = createTcpServer(this.broker);
      this.connections.watch(tcp);
      this.tcp = tcp;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.cfg.tcpPort!, this.cfg.tcpHost ?? this.cfg.host, () => resolve());
      });
      ({ port: tcpPort, address: tcpHost } = tcp.address() as net.AddressInfo);
    }
    this.address = { port: a.port, host: a.address, tcpPort, tcpHost, metricsPort: null };
    return this.address;
  }

  get listening(): ListenAddress | null {
    return this.address;
  }

  /** Stop accepting new connections (existing sessions are closed by the broker). */
  stopAccepting(): void {
    this.tcp?.close();
  }

  async close(): Promise<void> {
    this.tcp?.close();
    for (const ws of this.wss.clients) ws.terminate();
    await this.sockjs?.flush(1000);
    this.sockjs?.close();
    this.wss.close();
    await this.app.close();
  }
}

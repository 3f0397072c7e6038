/**
 * SockJS transport (Spring's `registry.addEndpoint("/ws").withSockJS()`), built on
 * the `sockjs` server package. For every endpoint path E:
 *
 *   E, E/info, E/iframe*.html, E/<server>/<session>/{xhr,xhr_send,xhr_streaming,
 *   eventsource,htmlfile,jsonp,jsonp_send}   plain HTTP, via Fastify routes that
 *                                           hijack the reply in `onRequest` (before
 *                                           Fastify parses a body) and hand the raw
 *                                           request/response to sockjs
 *   E/<server>/<session>/websocket           WebSocket upgrade, via the server's
 *                                           addUpgradeHandler (sockjs uses faye-websocket)
 *
 * Raw WebSocket at E and E/websocket stays with our own `ws` server (src/server.ts
 * handles those upgrade paths before any upgrade handler is asked), exactly as Spring
 * serves raw WebSocket at E/websocket.
 *
 * This module is `SockJSEndpoints`: the routes, the upgrade handler, and which
 * request opened which SockJS session. The rest:
 *   sockjs-connection.ts   a sockjs connection as a session's `Connection` (the adapter)
 *   sockjs-send.ts         reading xhr_send/jsonp_send bodies; holding them while input is paused
 *   sockjs-internals.ts    the sockjs private fields the others use, in one place
 *
 * - The `request` a session sees is the HTTP request (or upgrade) that opened its
 *   SockJS session (remembered here until sockjs's `connection` event).
 * - A session on the websocket transport cannot be resumed by another request:
 *   when its socket closes the STOMP session ends at once, not after sockjs's
 *   disconnect delay.
 * - While the node is not accepting, a request that would open a session and
 *   E/info get 503, as a SockJS websocket upgrade does (transport/upgrade.ts).
 * - Origin allow-list (transport/origin.ts) applies to every SockJS request and
 *   upgrade that carries an Origin header (403 otherwise); like Spring, the iframe
 *   page is refused (404) when the allow-list is not `*`, which disables the
 *   iframe-based transports.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { SessionOpener } from '../session/connection.js';
import type { OriginPolicy } from './origin.js';
import { openSockJS } from './sockjs-connection.js';
import { createSockJSServer, dropNow, hasQueuedOutput, onWebSocketClose, unrefTimer } from './sockjs-internals.js';
import type { RawHandler, SockJSConn, SockJSRequest, SockJSServer } from './sockjs-internals.js';
import { ReadRequest, SendQueue, readBody } from './sockjs-send.js';
import { admitUpgrade, refuseUpgrade, requestPath, type UpgradeChecks, type UpgradeHandler } from './upgrade.js';

/** What this module needs from the HTTP host (StompServer). */
export interface SockJSHost {
  readonly app: FastifyInstance;
  addUpgradeHandler(h: UpgradeHandler): void;
}

export interface SockJSOptions {
  log: Logger;
  origins: OriginPolicy;
  /** Script URL the SockJS iframe page loads (Spring's setClientLibraryUrl). Default: sockjs's jsDelivr URL. */
  clientLibraryUrl?: string;
  /** SockJS heartbeat ('h' frame) interval, ms. Default 25000 (as Spring). */
  heartbeatDelayMs?: number;
  /** How long a session survives without a receiving request, ms. Default 5000 (as Spring). */
  disconnectDelayMs?: number;
}

/** Transports whose request registers as the receiving side of a session (and may open it). */
const RECEIVING = new Set(['websocket', 'xhr', 'xhr_streaming', 'eventsource', 'htmlfile', 'jsonp']);
/** Transports whose request carries client messages in its body. */
const SENDING = new Set(['xhr_send', 'jsonp_send']);
/** The methods of the SockJS HTTP routes. */
const METHODS: Array<'GET' | 'POST' | 'OPTIONS'> = ['GET', 'POST', 'OPTIONS'];
/** How long the request that opened a session is kept for its `connection` event, ms. */
const OPENING_TTL_MS = 30_000;

function sockjsLevel(severity: string): 'debug' | 'info' | 'warn' | 'error' | 'trace' {
  if (severity === 'error') return 'error';
  // 'info' lines are one per HTTP request (access log): trace level.
  if (severity === 'info') return 'trace';
  return 'debug';
}

function rawReply(res: ServerResponse, status: number, body: string): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
  res.end(body);
}

/** `/ws/000/abc/xhr` -> { key: '/ws/000/abc', transport: 'xhr' }; null for other paths. */
function sessionPath(endpoint: string, pathname: string): { key: string; transport: string } | null {
  if (!pathname.startsWith(endpoint + '/')) return null;
  const parts = pathname.slice(endpoint.length + 1).split('/');
  if (parts.length === 4 && parts[3] === '') parts.pop(); // trailing slash (sockjs accepts it)
  if (parts.length !== 3 || parts.some((p) => p === '' || p.includes('.'))) return null;
  return { key: `${endpoint}/${parts[0]}/${parts[1]}`, transport: parts[2]! };
}

/** One endpoint path and sockjs's handler for it. */
interface Mount {
  readonly endpoint: string;
  readonly handler: RawHandler;
}

/**
 * SockJS on every endpoint of `cfg.endpoints`: Fastify routes for the HTTP
 * transports and an upgrade handler for the SockJS WebSocket transport.
 */
export class SockJSEndpoints {
  private readonly log: Logger;
  /**
   * SockJS messages are JSON-quoted STOMP frames: twice the raw WebSocket limit for
   * one xhr_send body or one SockJS-over-WebSocket message (faye's default is 64 MiB).
   */
  private readonly maxSendBytes: number;
  private readonly server: SockJSServer;
  private readonly origins: OriginPolicy;
  private readonly upgradeChecks: UpgradeChecks;
  /** The request that opened each SockJS session, until its `connection` event takes it. */
  private readonly opening = new Map<string, { req: IncomingMessage; timer: NodeJS.Timeout }>();
  /** Session paths with a live connection (later polls of these are not recorded). */
  private readonly live = new Set<string>();
  /** The sending requests of each live session path. */
  private readonly sends = new Map<string, SendQueue>();
  private readonly conns = new Set<SockJSConn>();

  /** Installs the routes and the upgrade handler: call before the Fastify instance is ready (i.e. before listen()). */
  constructor(
    host: SockJSHost,
    private readonly opener: SessionOpener,
    private readonly cfg: Pick<BrokerConfig, 'endpoints' | 'limits'>,
    opts: SockJSOptions,
  ) {
    const log = opts.log.child({ component: 'sockjs' });
    this.log = log;
    this.maxSendBytes = 2 * cfg.limits.maxWebSocketMessageBytes;
    this.server = createSockJSServer({
      log: (severity, message) => log[sockjsLevel(severity)](message),
      heartbeatDelayMs: opts.heartbeatDelayMs ?? 25_000,
      disconnectDelayMs: opts.disconnectDelayMs ?? 5_000,
      clientLibraryUrl: opts.clientLibraryUrl,
      maxMessageBytes: this.maxSendBytes,
    });
    this.origins = opts.origins;
    this.upgradeChecks = { opener, origins: opts.origins, log };
    this.server.on('connection', (sconn: SockJSConn | null) => {
      if (sconn) this.onConnection(sconn);
    });
    for (const endpoint of cfg.endpoints) this.mount(host, { endpoint, handler: this.server.listener({ prefix: endpoint }).handler });
  }

  /** Number of open SockJS connections. */
  get size(): number {
    return this.conns.size;
  }

  /**
   * Wait (at most `ms`) until no SockJS session holds undelivered output: a polling
   * client only gets what was queued for it (e.g. the shutdown ERROR frame) when its
   * next poll arrives, so give it that chance before the HTTP server goes away.
   */
  async flush(ms: number): Promise<void> {
    const end = Date.now() + ms;
    const pending = (): boolean => [...this.conns].some(hasQueuedOutput);
    while (pending() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  /** Drop every SockJS connection now (server shutdown). */
  close(): void {
    for (const c of [...this.conns]) dropNow(c);
    for (const o of this.opening.values()) clearTimeout(o.timer);
    this.opening.clear();
  }

  /** Keep the request that opens session `key` for its `connection` event. */
  private remember(key: string, req: IncomingMessage): void {
    if (this.live.has(key) || this.opening.has(key)) return;
    const timer = setTimeout(() => this.opening.delete(key), OPENING_TTL_MS);
    timer.unref();
    this.opening.set(key, { req, timer });
  }

  /** sockjs opened a session: give it a broker session, with the request that opened it. */
  private onConnection(sconn: SockJSConn): void {
    const endpoint = this.cfg.endpoints.find((e) => sconn.prefix === e) ?? sconn.prefix;
    const sp = sessionPath(endpoint, sconn.pathname ?? '');
    let request: IncomingMessage | undefined;
    const queue = new SendQueue();
    if (sp) {
      const o = this.opening.get(sp.key);
      if (o) {
        clearTimeout(o.timer);
        this.opening.delete(sp.key);
        request = o.req;
      }
      this.live.add(sp.key);
      this.sends.set(sp.key, queue);
    }
    this.conns.add(sconn);
    const session = openSockJS(this.opener, sconn, request, queue);
    sconn.on('close', () => {
      this.conns.delete(sconn);
      if (sp) {
        this.live.delete(sp.key);
        if (this.sends.get(sp.key) === queue) this.sends.delete(sp.key);
      }
      queue.resume(); // whatever still waits goes to sockjs, which answers for a closed session
      session.transportClosed();
    });
    // A SockJS session over the websocket transport cannot be resumed by another
    // request: when its socket closes the peer is gone. sockjs would still wait its
    // disconnect delay before emitting 'close'; end the STOMP session now.
    onWebSocketClose(sconn, () => {
      session.transportClosed();
      setImmediate(() => unrefTimer(sconn));
    });
  }

  /** Routes for the endpoint's HTTP transports, and the handler for its websocket transport. */
  private mount(host: SockJSHost, m: Mount): void {
    // `onRequest` runs before body parsing: the body is still unread (readSend reads it, or sockjs).
    const route = {
      method: METHODS,
      onRequest: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => this.onRequest(m, request, reply, done),
      handler: async () => undefined, // never reached: the reply is hijacked in onRequest
    };
    host.app.route({ ...route, url: m.endpoint });
    host.app.route({ ...route, url: `${m.endpoint}/*` });
    host.addUpgradeHandler((req, socket, head) => this.onUpgrade(m, req, socket, head));
  }

  /** Hand a request to sockjs; `then` runs once its handler has taken it (registered its listeners). */
  private dispatch(m: Mount, req: SockJSRequest, res: ServerResponse, then?: () => void): void {
    try {
      if (!m.handler(req, res)) rawReply(res, 404, 'Not Found');
      else then?.();
    } catch (err) {
      this.log.error({ err }, 'sockjs handler failed');
      rawReply(res, 500, 'Internal Server Error');
    }
  }

  /** Read a sending request's body (bounded), then hand it to sockjs in one piece. */
  private readSend(m: Mount, req: IncomingMessage, res: ServerResponse, pathname: string, done: () => void): void {
    readBody(req, this.maxSendBytes, {
      body: (body) => {
        const read = new ReadRequest(req, body);
        this.dispatch(m, read, res, () => read.deliver());
        done();
      },
      tooLarge: (bytes) => {
        this.log.info({ path: pathname, bytes }, 'sockjs send refused: body too large');
        // Connection: close: Node closes the connection once the answer is out, unread.
        rawReply(res, 413, 'Payload Too Large');
        done();
      },
      gone: done,
    });
  }

  /** Every HTTP request under the endpoint: checks, then to sockjs (a sending request through its session's queue). */
  private onRequest(m: Mount, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    reply.hijack();
    done();
    const req = request.raw;
    const res = reply.raw;
    const pathname = requestPath(req);
    const sub = pathname.slice(m.endpoint.length);
    if (!this.origins.check(req)) {
      this.log.info({ origin: req.headers.origin, path: pathname }, 'sockjs request refused: origin not allowed');
      return rawReply(res, 403, 'Forbidden');
    }
    if (/^\/iframe[0-9-.a-z_]*\.html$/.test(sub) && !this.origins.any) {
      // Spring: "Iframe support is disabled when an origin check is required."
      return rawReply(res, 404, 'Not Found');
    }
    const sp = sessionPath(m.endpoint, pathname);
    if (sp && RECEIVING.has(sp.transport) && !this.live.has(sp.key) && !this.opener.accepting)
      return rawReply(res, 503, 'Service Unavailable');
    if (sub === '/info' && !this.opener.accepting) return rawReply(res, 503, 'Service Unavailable');
    if (sp && SENDING.has(sp.transport) && req.method === 'POST') {
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.maxSendBytes) return rawReply(res, 413, 'Payload Too Large');
      const queue = this.sends.get(sp.key);
      // No live session (unknown, or not open yet): sockjs answers; nothing to hold.
      if (!queue) return this.readSend(m, req, res, pathname, () => undefined);
      if (!queue.add((next) => this.readSend(m, req, res, pathname, next), res)) {
        this.log.info({ path: pathname }, 'sockjs send refused: too many waiting');
        rawReply(res, 503, 'Service Unavailable');
      }
      return;
    }
    if (sp && RECEIVING.has(sp.transport)) this.remember(sp.key, req);
    this.dispatch(m, req, res);
  }

  /** An upgrade the WebSocket endpoints did not take: ours if it is E/<server>/<session>/websocket. */
  private onUpgrade(m: Mount, req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const sp = sessionPath(m.endpoint, requestPath(req));
    if (!sp || sp.transport !== 'websocket') return false;
    if (!admitUpgrade(this.upgradeChecks, req, socket, 'sockjs websocket')) return true;
    this.remember(sp.key, req);
    try {
      if (!m.handler(req, socket, head)) refuseUpgrade(socket, 404, 'Not Found');
    } catch (err) {
      this.log.error({ err }, 'sockjs upgrade failed');
      socket.destroy();
    }
    return true;
  }
}

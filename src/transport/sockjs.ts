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
 *   SockJS session. sockjs emits `connection` on the tick after a request registered
 *   a new session, so a request that may open one is remembered only that long (an
 *   upgrade: while its socket is open, as faye opens it later); only requests
 *   sockjs turns into sessions (the transport's method, session id not live), at
 *   most `http.maxConnections` at once (503 past that).
 * - Sessions are known by their session id alone, as sockjs knows them (its
 *   session map ignores the endpoint and the server part of the path).
 * - A session on the websocket transport cannot be resumed by another request:
 *   when its socket closes the STOMP session ends at once, not after sockjs's
 *   disconnect delay.
 * - While the node is not accepting, a request that would open a session and
 *   E/info get 503, as a SockJS websocket upgrade does (transport/upgrade.ts).
 * - Origin allow-list (transport/origin.ts) applies to every SockJS request and
 *   upgrade, the sending ones (xhr_send) included (403 otherwise). When the
 *   allow-list is not `*`, the transports made for requests a browser sends
 *   without an Origin (jsonp, jsonp_send, htmlfile) are off (404, as sockjs answers
 *   a disabled transport; Spring removed JSONP for this reason), and, like Spring,
 *   so is the iframe page, which disables the iframe-based transports. A same-origin
 *   EventSource sends no Origin either: origin.ts refuses such a request when the
 *   browser's Sec-Fetch-Site says another site made it.
 * - A send to a session this node does not have is answered 404 unread, and its
 *   connection closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseUrl } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { SessionOpener } from '../session/connection.js';
import type { OriginPolicy } from './origin.js';
import { openSockJS } from './sockjs-connection.js';
import { createSockJSServer, dropNow, hasQueuedOutput, onWebSocketClose, unrefTimer, webSocketOf } from './sockjs-internals.js';
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

/**
 * The HTTP transports whose request registers as the receiving side of a session
 * (and opens it when its id is new), with the method sockjs serves each with. The
 * websocket transport is an upgrade (onUpgrade).
 */
const RECEIVING: ReadonlyMap<string, string> = new Map([
  ['xhr', 'POST'],
  ['xhr_streaming', 'POST'],
  ['eventsource', 'GET'],
  ['htmlfile', 'GET'],
  ['jsonp', 'GET'],
]);
/** Transports whose request carries client messages in its body. */
const SENDING = new Set(['xhr_send', 'jsonp_send']);
/**
 * Transports for pages that cannot make CORS requests (jsonp: a <script>; htmlfile:
 * an iframe): a browser sends them without an Origin, so any site's page can make
 * them with the visitor's cookies. Off unless the allow-list is `*`.
 */
const NO_CORS = new Set(['jsonp', 'jsonp_send', 'htmlfile']);
/** The methods of the SockJS HTTP routes. */
const METHODS: Array<'GET' | 'POST' | 'OPTIONS'> = ['GET', 'POST', 'OPTIONS'];

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

/**
 * The request's path as sockjs sees it: sockjs routes on the legacy `url.parse`,
 * which drops a `#...` and turns `\` into `/` (`/ws/000/k/jsonp#` is jsonp to it).
 * Every check here must look at that same path, or a spelling would get past it.
 */
function sockjsPath(req: Pick<IncomingMessage, 'url'>): string {
  return parseUrl(req.url ?? '/').pathname ?? '/';
}

/** `/ws/000/abc/xhr` -> { id: 'abc', transport: 'xhr' } (id: the session id, sockjs's key); null for other paths. */
function sessionPath(endpoint: string, pathname: string): { id: string; transport: string } | null {
  if (!pathname.startsWith(endpoint + '/')) return null;
  const parts = pathname.slice(endpoint.length + 1).split('/');
  if (parts.length === 4 && parts[3] === '') parts.pop(); // trailing slash (sockjs accepts it)
  if (parts.length !== 3 || parts.some((p) => p === '' || p.includes('.'))) return null;
  return { id: parts[1]!, transport: parts[2]! };
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
  /** The HTTP request that may open each session (by id), until the next turn of the event loop. */
  private readonly opening = new Map<string, IncomingMessage>();
  /** The upgrade that may open a websocket-transport session (by its socket), while the socket is open. */
  private readonly upgrading = new Map<Duplex, IncomingMessage>();
  /** At most this many requests are remembered at once (each is an open connection: the node's connection cap). */
  private readonly maxOpening: number;
  /** Ids of the sessions on the HTTP transports with a live connection (later polls of these are not recorded). */
  private readonly live = new Set<string>();
  /** The sending requests of each live session (by id). */
  private readonly sends = new Map<string, SendQueue>();
  private readonly conns = new Set<SockJSConn>();

  /** Installs the routes and the upgrade handler: call before the Fastify instance is ready (i.e. before listen()). */
  constructor(
    host: SockJSHost,
    private readonly opener: SessionOpener,
    private readonly cfg: Pick<BrokerConfig, 'endpoints' | 'limits' | 'http'>,
    opts: SockJSOptions,
  ) {
    const log = opts.log.child({ component: 'sockjs' });
    this.log = log;
    this.maxSendBytes = 2 * cfg.limits.maxWebSocketMessageBytes;
    this.maxOpening = cfg.http.maxConnections;
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

  /** Requests (and upgrades) remembered for the session they may open (bounded: see `remember`). */
  get openingSize(): number {
    return this.opening.size + this.upgrading.size;
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
    this.opening.clear();
    this.upgrading.clear();
  }

  /**
   * Keep the HTTP request that may open session `id` for the `connection` event:
   * sockjs registers the request while its handler runs (dispatch) and emits
   * `connection` on the next tick, so the entry goes on the next turn of the event
   * loop whatever happened. False (nothing kept) when too many are kept.
   */
  private remember(id: string, req: IncomingMessage): boolean {
    if (this.opening.has(id)) return true; // the first of them is the one sockjs opens the session with
    if (this.openingSize >= this.maxOpening) return false;
    this.opening.set(id, req);
    setImmediate(() => {
      if (this.opening.get(id) === req) this.opening.delete(id);
    });
    return true;
  }

  /** Keep an upgrade for its `connection` event (faye opens the WebSocket later), while its socket is open. */
  private rememberUpgrade(socket: Duplex, req: IncomingMessage): boolean {
    if (this.openingSize >= this.maxOpening) return false;
    this.upgrading.set(socket, req);
    socket.once('close', () => this.upgrading.delete(socket));
    return true;
  }

  /** The request that opened `sconn`'s session (taken: a session has one): by its socket on the websocket transport, else by session id. */
  private takeOpening(sconn: SockJSConn, id: string | null): IncomingMessage | undefined {
    if (id === null) {
      const socket = webSocketOf(sconn);
      const req = socket ? this.upgrading.get(socket) : undefined;
      if (socket) this.upgrading.delete(socket);
      return req;
    }
    const req = this.opening.get(id);
    this.opening.delete(id);
    return req;
  }

  /** sockjs opened a session: give it a broker session, with the request that opened it. */
  private onConnection(sconn: SockJSConn): void {
    const endpoint = this.cfg.endpoints.find((e) => sconn.prefix === e) ?? sconn.prefix;
    // A websocket-transport session is its socket's alone: sockjs keeps no id for it (a send cannot reach it).
    const id = sconn.protocol === 'websocket' ? null : (sessionPath(endpoint, sconn.pathname ?? '')?.id ?? null);
    const request = this.takeOpening(sconn, id);
    const queue = new SendQueue();
    if (id !== null) {
      this.live.add(id);
      this.sends.set(id, queue);
    }
    this.conns.add(sconn);
    const session = openSockJS(this.opener, sconn, request, queue);
    sconn.on('close', () => {
      this.conns.delete(sconn);
      if (id !== null) {
        this.live.delete(id);
        if (this.sends.get(id) === queue) this.sends.delete(id);
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
    const pathname = sockjsPath(req);
    const sub = pathname.slice(m.endpoint.length);
    if (!this.origins.check(req)) {
      this.log.info({ origin: req.headers.origin, fetchSite: req.headers['sec-fetch-site'], path: pathname }, 'sockjs request refused: origin not allowed');
      return rawReply(res, 403, 'Forbidden');
    }
    const sp = sessionPath(m.endpoint, pathname);
    // Spring: "Iframe support is disabled when an origin check is required"; and JSONP is gone from it.
    // (Every path sockjs serves the iframe page at starts /iframe, and none of its session paths does.)
    if (!this.origins.any && (sp ? NO_CORS.has(sp.transport) : sub.startsWith('/iframe'))) return rawReply(res, 404, 'Not Found');
    if ((sub === '/info' || sub === '/info/') && !this.opener.accepting) return rawReply(res, 503, 'Service Unavailable');
    if (sp && SENDING.has(sp.transport) && req.method === 'POST') return this.onSend(m, req, res, pathname, sp.id);
    if (sp && RECEIVING.get(sp.transport) === req.method && !this.live.has(sp.id)) {
      // This request opens session sp.id.
      if (!this.opener.accepting) return rawReply(res, 503, 'Service Unavailable');
      if (!this.remember(sp.id, req)) {
        this.log.info({ path: pathname }, 'sockjs request refused: too many sessions opening');
        return rawReply(res, 503, 'Service Unavailable');
      }
    }
    this.dispatch(m, req, res);
  }

  /** xhr_send / jsonp_send: through the session's queue; a session this node does not have gets 404, its body unread. */
  private onSend(m: Mount, req: IncomingMessage, res: ServerResponse, pathname: string, id: string): void {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxSendBytes) return rawReply(res, 413, 'Payload Too Large');
    const queue = this.sends.get(id);
    // Connection: close (rawReply): Node closes the connection once the answer is out, the body unread.
    if (!queue) return rawReply(res, 404, 'Not Found');
    if (!queue.add((next) => this.readSend(m, req, res, pathname, next), res)) {
      this.log.info({ path: pathname }, 'sockjs send refused: too many waiting');
      rawReply(res, 503, 'Service Unavailable');
    }
  }

  /** An upgrade the WebSocket endpoints did not take: ours if it is E/<server>/<session>/websocket. */
  private onUpgrade(m: Mount, req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const sp = sessionPath(m.endpoint, sockjsPath(req));
    if (!sp || sp.transport !== 'websocket') return false;
    if (!admitUpgrade(this.upgradeChecks, req, socket, 'sockjs websocket')) return true;
    if (!this.rememberUpgrade(socket, req)) {
      this.log.info({ path: requestPath(req) }, 'sockjs websocket refused: too many sessions opening');
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return true;
    }
    try {
      if (!m.handler(req, socket, head)) refuseUpgrade(socket, 404, 'Not Found');
    } catch (err) {
      this.log.error({ err }, 'sockjs upgrade failed');
      socket.destroy();
    }
    return true;
  }
}

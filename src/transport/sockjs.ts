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
 * Then the thin-adapter pattern of the other transports: a sockjs connection
 * becomes a `Connection`, `opener.openSession(conn)`, incoming SockJS messages go to
 * `session.receive()`, and `close` to `session.transportClosed()`.
 *
 * - SockJS carries text: each STOMP frame goes out as ONE SockJS message (UTF-8
 *   decoded; a frame whose bytes are not valid UTF-8 cannot be carried faithfully,
 *   the same limitation Spring's SockJS has), a heart-beat as a message "\n".
 * - `request` is the real `IncomingMessage` of the HTTP request (or upgrade) that
 *   opened the SockJS session, with all its headers (cookie, authorization, origin)
 *   and its URL including the query string (sockjs-client keeps the endpoint URL's
 *   query on every transport URL), so auth hooks see what they see for raw WebSocket.
 *   sockjs's own `conn.headers` keeps only a few whitelisted headers (no cookie,
 *   no authorization), which is why it is not used.
 * - `bufferedAmount()` is approximate: characters waiting in the sockjs session's
 *   send buffer (e.g. between two polls) plus bytes queued on the socket of the
 *   request/WebSocket currently receiving for the session. JSON quoting and
 *   transport framing are not counted.
 * - `end()` asks sockjs to close the session (it flushes what is queued, then sends
 *   the SockJS close frame, at once or on the next poll) and then reports the STOMP
 *   session closed right away: sockjs itself only emits `close` after its
 *   disconnect delay (5 s), which would hold up shutdown.
 * - An xhr_send/jsonp_send body is read here, not by sockjs (which copies everything
 *   received so far on every chunk: quadratic in the number of chunks): chunks are
 *   kept and joined once, and past 2 x limits.maxWebSocketMessageBytes reading stops
 *   at once with a 413 and the connection closes. sockjs then gets a stand-in request
 *   that carries the body in one piece.
 * - Input flow control (the session pauses input behind a slow /app handler, as it
 *   does WebSocket and TCP; sockjs itself has no pause/resume): a session's sending
 *   requests are read one at a time in arrival order, and while it is paused none is
 *   read or answered: they wait unread (back-pressure on a client that sends one at a
 *   time, as sockjs-client does); at most MAX_WAITING_SENDS wait, more get 503. On
 *   the websocket transport the socket is unpiped from faye-websocket's parser and
 *   paused. Resume lets them through in order; end()/destroy() resume first.
 * - Origin allow-list (transport/origin.ts) applies to every SockJS request and
 *   upgrade that carries an Origin header (403 otherwise); like Spring, the iframe
 *   page is refused (404) when the allow-list is not `*`, which disables the
 *   iframe-based transports.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Logger } from 'pino';
import sockjs from 'sockjs';
import type { BrokerConfig } from '../config.js';
import type { Connection, SessionOpener } from '../session/connection.js';
import type { Session } from '../session/session.js';
import type { OriginPolicy } from './origin.js';
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

export interface SockJSEndpoints {
  /** Number of open SockJS connections. */
  readonly size: number;
  /**
   * Wait (at most `ms`) until no SockJS session holds undelivered output: a polling
   * client only gets what was queued for it (e.g. the shutdown ERROR frame) when its
   * next poll arrives, so give it that chance before the HTTP server goes away.
   */
  flush(ms: number): Promise<void>;
  /** Drop every SockJS connection now (server shutdown). */
  close(): void;
}

// ---- the parts of sockjs 0.3.24 that @types/sockjs does not describe ----
/** What sockjs reads of a request: these fields, and a body as 'data' events then 'end' (expect_xhr, expect_form). */
type SockJSRequest = Pick<IncomingMessage, 'url' | 'method' | 'headers' | 'httpVersion'> & EventEmitter;
type RawHandler = (req: SockJSRequest, res: ServerResponse | Duplex, head?: Buffer) => boolean;
interface SockJSServerInternal extends sockjs.Server {
  listener(opts?: Record<string, unknown>): { handler: RawHandler };
}
interface SockJSReceiverInternal {
  protocol?: string;
  /** websocket transport: the upgraded socket, piped into faye-websocket's parser (`ws._driver.io`). */
  connection?: Duplex | null;
  ws?: { _driver?: { io?: NodeJS.WritableStream } } | null;
  /** websocket transport: runs when no pong came within 10 s of sockjs's ping; closes the session. */
  heartbeat_timeout?: () => void;
  response?: { socket?: { writableLength?: number; destroy?(): void } | null } | null;
}
interface SockJSSessionInternal {
  send_buffer?: string[];
  recv?: SockJSReceiverInternal | null;
  to_tref?: NodeJS.Timeout | null;
}
type SockJSConn = sockjs.Connection & { _session?: SockJSSessionInternal };

/** Transports whose request registers as the receiving side of a session (and may open it). */
const RECEIVING = new Set(['websocket', 'xhr', 'xhr_streaming', 'eventsource', 'htmlfile', 'jsonp']);
/** Transports whose request carries client messages in its body. */
const SENDING = new Set(['xhr_send', 'jsonp_send']);
/**
 * Sending requests one SockJS session may have waiting behind the one being read
 * (while its input is paused, or behind a slow body). sockjs-client sends one at a
 * time; more are refused (503) unread.
 */
const MAX_WAITING_SENDS = 4;

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
 * Read a request body whole: its chunks kept as they come and joined once at the end
 * (sockjs itself would copy everything received so far on every chunk: quadratic).
 * Past `max` bytes it stops reading at once and calls `tooLarge`; `gone` if the
 * request goes away before its end.
 */
function readBody(req: IncomingMessage, max: number, on: { body(b: Buffer): void; tooLarge(bytes: number): void; gone(): void }): void {
  const chunks: Buffer[] = [];
  let n = 0;
  let settled = false;
  const settle = (): void => {
    settled = true;
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
  };
  const onData = (chunk: Buffer): void => {
    n += chunk.length;
    if (n <= max) return void chunks.push(chunk);
    settle();
    chunks.length = 0;
    req.pause();
    on.tooLarge(n);
  };
  const onEnd = (): void => {
    settle();
    on.body(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n));
  };
  const onClose = (): void => {
    if (settled) return;
    settle();
    on.gone();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}

/**
 * What sockjs gets for a sending request whose body was already read: the request's
 * fields, and the body as ONE 'data' event then 'end' (`deliver()`, once sockjs's
 * handler has registered its listeners).
 */
class ReadRequest extends EventEmitter {
  readonly url: string | undefined;
  readonly method: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly httpVersion: string;

  constructor(
    req: IncomingMessage,
    private readonly body: Buffer,
  ) {
    super();
    this.url = req.url;
    this.method = req.method;
    this.headers = req.headers;
    this.httpVersion = req.httpVersion;
  }

  deliver(): void {
    if (this.body.length > 0) this.emit('data', this.body);
    this.emit('end');
  }
}

/**
 * Input flow control for the HTTP sending transports (xhr_send, jsonp_send) of one
 * SockJS session: its requests are read and handed to sockjs one at a time, in
 * arrival order, and none while the session is paused; the waiting ones stay unread
 * (at most MAX_WAITING_SENDS).
 */
class SendQueue {
  private paused = false;
  /** A request is being read (or handed over). */
  private running = false;
  private readonly waiting: Array<(done: () => void) => void> = [];

  /** Queue a request: `run` reads it, hands it over and then calls `done`. False (not queued) when too many wait. */
  add(run: (done: () => void) => void, res: ServerResponse): boolean {
    if (this.waiting.length >= MAX_WAITING_SENDS) return false;
    this.waiting.push(run);
    // A client that gives up on a waiting request frees its place.
    res.once('close', () => {
      const i = this.waiting.indexOf(run);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    this.pump();
    return true;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  private pump(): void {
    while (!this.running && !this.paused && this.waiting.length > 0) {
      const run = this.waiting.shift()!;
      this.running = true;
      run(() => {
        this.running = false;
        this.pump();
      });
    }
  }
}

/** `/ws/000/abc/xhr` -> { key: '/ws/000/abc', transport: 'xhr' }; null for other paths. */
function sessionPath(endpoint: string, pathname: string): { key: string; transport: string } | null {
  if (!pathname.startsWith(endpoint + '/')) return null;
  const parts = pathname.slice(endpoint.length + 1).split('/');
  if (parts.length === 4 && parts[3] === '') parts.pop(); // trailing slash (sockjs accepts it)
  if (parts.length !== 3 || parts.some((p) => p === '' || p.includes('.'))) return null;
  return { key: `${endpoint}/${parts[0]}/${parts[1]}`, transport: parts[2]! };
}

/**
 * Install SockJS on every endpoint of `cfg.endpoints`: Fastify routes for the
 * HTTP transports and an upgrade handler for the SockJS WebSocket transport.
 * Call before the Fastify instance is ready (i.e. before listen()).
 */
export function installSockJS(host: SockJSHost, opener: SessionOpener, cfg: BrokerConfig, opts: SockJSOptions): SockJSEndpoints {
  const log = opts.log.child({ component: 'sockjs' });
  // SockJS messages are JSON-quoted STOMP frames: allow twice the raw WebSocket limit
  // for one xhr_send body or one SockJS-over-WebSocket message (faye's default is 64 MiB).
  const maxSendBytes = 2 * cfg.limits.maxWebSocketMessageBytes;
  const server = sockjs.createServer({
    log: (severity: string, message: string) => log[sockjsLevel(severity)](message),
    heartbeat_delay: opts.heartbeatDelayMs ?? 25_000,
    disconnect_delay: opts.disconnectDelayMs ?? 5_000,
    ...(opts.clientLibraryUrl ? { sockjs_url: opts.clientLibraryUrl } : {}),
    faye_server_options: { maxLength: maxSendBytes },
  } as sockjs.ServerOptions) as SockJSServerInternal;
  const iframeAllowed = opts.origins.any;
  const upgradeChecks: UpgradeChecks = { opener, origins: opts.origins, log };

  /** The request that opened each SockJS session, until its `connection` event takes it. */
  const opening = new Map<string, { req: IncomingMessage; timer: NodeJS.Timeout }>();
  /** Session paths with a live connection (later polls of these are not recorded). */
  const live = new Set<string>();
  /** The sending requests of each live session path. */
  const sends = new Map<string, SendQueue>();
  const conns = new Set<SockJSConn>();

  const remember = (key: string, req: IncomingMessage): void => {
    if (live.has(key) || opening.has(key)) return;
    const timer = setTimeout(() => opening.delete(key), 30_000);
    timer.unref();
    opening.set(key, { req, timer });
  };

  server.on('connection', (sconn: SockJSConn | null) => {
    if (!sconn) return;
    const endpoint = cfg.endpoints.find((e) => sconn.prefix === e) ?? sconn.prefix;
    const sp = sessionPath(endpoint, sconn.pathname ?? '');
    let request: IncomingMessage | undefined;
    const queue = new SendQueue();
    if (sp) {
      const o = opening.get(sp.key);
      if (o) {
        clearTimeout(o.timer);
        opening.delete(sp.key);
        request = o.req;
      }
      live.add(sp.key);
      sends.set(sp.key, queue);
    }
    conns.add(sconn);
    const session = openSockJS(opener, sconn, request, queue);
    sconn.on('close', () => {
      conns.delete(sconn);
      if (sp) {
        live.delete(sp.key);
        if (sends.get(sp.key) === queue) sends.delete(sp.key);
      }
      queue.resume(); // whatever still waits goes to sockjs, which answers for a closed session
      session.transportClosed();
    });
    // A SockJS session over the websocket transport cannot be resumed by another
    // request: when its socket closes the peer is gone. sockjs would still wait its
    // disconnect delay before emitting 'close'; end the STOMP session now.
    const recv = sconn._session?.recv;
    if (recv?.protocol === 'websocket') {
      recv.connection?.once?.('close', () => {
        session.transportClosed();
        setImmediate(() => unrefTimer(sconn));
      });
    }
  });

  for (const endpoint of cfg.endpoints) {
    const handler = server.listener({ prefix: endpoint }).handler;

    /** Hand a request to sockjs; `then` runs once its handler has taken it (registered its listeners). */
    const dispatch = (req: SockJSRequest, res: ServerResponse, then?: () => void): void => {
      try {
        if (!handler(req, res)) rawReply(res, 404, 'Not Found');
        else then?.();
      } catch (err) {
        log.error({ err }, 'sockjs handler failed');
        rawReply(res, 500, 'Internal Server Error');
      }
    };

    /** Read a sending request's body (bounded), then hand it to sockjs in one piece. */
    const readSend = (req: IncomingMessage, res: ServerResponse, pathname: string, done: () => void): void => {
      readBody(req, maxSendBytes, {
        body(body) {
          const read = new ReadRequest(req, body);
          dispatch(read, res, () => read.deliver());
          done();
        },
        tooLarge(bytes) {
          log.info({ path: pathname, bytes }, 'sockjs send refused: body too large');
          // Connection: close: Node closes the connection once the answer is out, unread.
          rawReply(res, 413, 'Payload Too Large');
          done();
        },
        gone: done,
      });
    };

    const onRequest = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
      reply.hijack();
      done();
      const req = request.raw;
      const res = reply.raw;
      const pathname = requestPath(req);
      const sub = pathname.slice(endpoint.length);
      if (!opts.origins.check(req)) {
        log.info({ origin: req.headers.origin, path: pathname }, 'sockjs request refused: origin not allowed');
        return rawReply(res, 403, 'Forbidden');
      }
      if (/^\/iframe[0-9-.a-z_]*\.html$/.test(sub) && !iframeAllowed) {
        // Spring: "Iframe support is disabled when an origin check is required."
        return rawReply(res, 404, 'Not Found');
      }
      const sp = sessionPath(endpoint, pathname);
      if (sp && RECEIVING.has(sp.transport) && !live.has(sp.key) && !opener.accepting)
        return rawReply(res, 503, 'Service Unavailable');
      if (sub === '/info' && !opener.accepting) return rawReply(res, 503, 'Service Unavailable');
      if (sp && SENDING.has(sp.transport) && req.method === 'POST') {
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > maxSendBytes) return rawReply(res, 413, 'Payload Too Large');
        const queue = sends.get(sp.key);
        // No live session (unknown, or not open yet): sockjs answers; nothing to hold.
        if (!queue) return readSend(req, res, pathname, () => undefined);
        if (!queue.add((done) => readSend(req, res, pathname, done), res)) {
          log.info({ path: pathname }, 'sockjs send refused: too many waiting');
          rawReply(res, 503, 'Service Unavailable');
        }
        return;
      }
      if (sp && RECEIVING.has(sp.transport)) remember(sp.key, req);
      dispatch(req, res);
    };

    // `onRequest` runs before body parsing: the body is still unread (readSend reads it, or sockjs).
    const route = {
      method: ['GET', 'POST', 'OPTIONS'] as Array<'GET' | 'POST' | 'OPTIONS'>,
      onRequest,
      handler: async () => undefined, // never reached: the reply is hijacked in onRequest
    };
    host.app.route({ ...route, url: endpoint });
    host.app.route({ ...route, url: `${endpoint}/*` });

    host.addUpgradeHandler((req, socket, head) => {
      const sp = sessionPath(endpoint, requestPath(req));
      if (!sp || sp.transport !== 'websocket') return false;
      if (!admitUpgrade(upgradeChecks, req, socket, 'sockjs websocket')) return true;
      remember(sp.key, req);
      try {
        if (!handler(req, socket, head)) refuseUpgrade(socket, 404, 'Not Found');
      } catch (err) {
        log.error({ err }, 'sockjs upgrade failed');
        socket.destroy();
      }
      return true;
    });
  }

  return {
    get size() {
      return conns.size;
    },
    async flush(ms) {
      const end = Date.now() + ms;
      const pending = (): boolean => [...conns].some((c) => (c._session?.send_buffer?.length ?? 0) > 0);
      while (pending() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    },
    close() {
      for (const c of [...conns]) dropNow(c);
      for (const o of opening.values()) clearTimeout(o.timer);
      opening.clear();
    },
  };
}

/** The socket currently receiving for a SockJS session (WebSocket or HTTP response), if any. */
function receivingSocket(sconn: SockJSConn): { writableLength?: number; destroy?(): void } | null {
  const recv = sconn._session?.recv;
  if (!recv) return null;
  return recv.connection ?? recv.response?.socket ?? null;
}

/** Let a closed session's pending sockjs timer (disconnect delay) not hold the process open. */
function unrefTimer(sconn: SockJSConn): void {
  sconn._session?.to_tref?.unref?.();
}

/** sockjs takes a numeric close code (the @types say string). */
function closeWith(sconn: SockJSConn, code: number, reason: string): void {
  (sconn.close as unknown as (code: number, reason: string) => boolean).call(sconn, code, reason);
}

function dropNow(sconn: SockJSConn): void {
  const sock = receivingSocket(sconn);
  closeWith(sconn, 3000, 'Go away');
  sock?.destroy?.();
  unrefTimer(sconn);
}

/**
 * Stop reading the socket of a session on the websocket transport. It is unpiped from
 * faye-websocket's parser, not only paused: the pipe would resume it on the parser's
 * next 'drain' (whenever output backpressure eases). Returns the undo, or null when
 * the session is not on the websocket transport.
 */
function pauseWebSocket(sconn: SockJSConn): (() => void) | null {
  const recv = sconn._session?.recv;
  const socket = recv?.connection;
  const io = recv?.ws?._driver?.io;
  if (recv?.protocol !== 'websocket' || !socket || !io) return null;
  socket.unpipe(io);
  // The pong to sockjs's ping cannot be read meanwhile: no heartbeat timeout while paused.
  recv.heartbeat_timeout = () => undefined;
  return () => {
    delete recv.heartbeat_timeout;
    if (!socket.destroyed) socket.pipe(io);
  };
}

/** The adapter: one SockJS connection -> one broker session. */
function openSockJS(opener: SessionOpener, sconn: SockJSConn, request: IncomingMessage | undefined, sends: SendQueue): Session {
  let session: Session | null = null;
  /** Undoes the pause of the websocket transport's socket (null when not paused). */
  let unpauseSocket: (() => void) | null = null;
  const resume = (): void => {
    sends.resume();
    const undo = unpauseSocket;
    unpauseSocket = null;
    undo?.();
  };
  const closedSoon = (): void => {
    setImmediate(() => session?.transportClosed());
  };
  const conn: Connection = {
    transport: 'sockjs',
    remoteAddress: request?.socket?.remoteAddress ?? sconn.remoteAddress ?? '',
    request,
    write(frame: Buffer) {
      if (sconn.readyState !== 1) return;
      sconn.write(frame.toString('utf8'));
    },
    writeHeartbeat() {
      if (sconn.readyState === 1) sconn.write('\n');
    },
    bufferedAmount() {
      let n = 0;
      for (const s of sconn._session?.send_buffer ?? []) n += s.length;
      return n + (receivingSocket(sconn)?.writableLength ?? 0);
    },
    end() {
      // Closing needs the peer's input again (faye reads the close handshake); held sends get their answer.
      resume();
      // sockjs flushes what is queued before its close frame (now, or on the next poll).
      closeWith(sconn, 1000, 'Normal closure');
      unrefTimer(sconn);
      closedSoon();
    },
    destroy() {
      resume();
      dropNow(sconn);
      closedSoon();
    },
    pause() {
      sends.pause();
      unpauseSocket ??= pauseWebSocket(sconn);
    },
    resume,
  };
  session = opener.openSession(conn);
  const s = session;
  sconn.on('data', (message: string) => {
    s.receive(Buffer.from(message, 'utf8'));
  });
  return s;
}

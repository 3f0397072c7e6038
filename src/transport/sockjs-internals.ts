/**
 * The parts of the `sockjs` server package (0.3.24) that @types/sockjs does not
 * describe, and every use of them: the other SockJS modules (sockjs.ts,
 * sockjs-connection.ts) reach sockjs's private fields only through the
 * functions here, so the casts they need stay in this one file.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import sockjs from 'sockjs';

/** What sockjs reads of a request: these fields, and a body as 'data' events then 'end' (expect_xhr, expect_form). */
export type SockJSRequest = Pick<IncomingMessage, 'url' | 'method' | 'headers' | 'httpVersion'> & EventEmitter;
/** One endpoint's handler: HTTP requests (res) and upgrades (socket, head); false when the path is not sockjs's. */
export type RawHandler = (req: SockJSRequest, res: ServerResponse | Duplex, head?: Buffer) => boolean;
export interface SockJSServer extends sockjs.Server {
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
/** A sockjs connection with the session behind it. */
export type SockJSConn = sockjs.Connection & { _session?: SockJSSessionInternal };

export interface SockJSServerOptions {
  log(severity: string, message: string): void;
  heartbeatDelayMs: number;
  disconnectDelayMs: number;
  /** Script URL the iframe page loads; undefined: sockjs's own default. */
  clientLibraryUrl: string | undefined;
  /** Largest message faye-websocket accepts on the websocket transport. */
  maxMessageBytes: number;
}

export function createSockJSServer(o: SockJSServerOptions): SockJSServer {
  return sockjs.createServer({
    log: o.log,
    heartbeat_delay: o.heartbeatDelayMs,
    disconnect_delay: o.disconnectDelayMs,
    ...(o.clientLibraryUrl ? { sockjs_url: o.clientLibraryUrl } : {}),
    faye_server_options: { maxLength: o.maxMessageBytes },
  } as sockjs.ServerOptions) as SockJSServer;
}

/** Characters waiting in the session's send buffer (e.g. between two polls). */
export function queuedChars(sconn: SockJSConn): number {
  let n = 0;
  for (const s of sconn._session?.send_buffer ?? []) n += s.length;
  return n;
}

/** The session holds output no receiving request has taken yet. */
export function hasQueuedOutput(sconn: SockJSConn): boolean {
  return (sconn._session?.send_buffer?.length ?? 0) > 0;
}

/** The socket currently receiving for a SockJS session (WebSocket or HTTP response), if any. */
export function receivingSocket(sconn: SockJSConn): { writableLength?: number; destroy?(): void } | null {
  const recv = sconn._session?.recv;
  if (!recv) return null;
  return recv.connection ?? recv.response?.socket ?? null;
}

/** On the websocket transport: the upgraded socket (the one sockjs's handler was given); null on other transports. */
export function webSocketOf(sconn: SockJSConn): Duplex | null {
  const recv = sconn._session?.recv;
  return recv?.protocol === 'websocket' ? (recv.connection ?? null) : null;
}

/** On the websocket transport: `fn` runs when the upgraded socket closes (nothing on other transports). */
export function onWebSocketClose(sconn: SockJSConn, fn: () => void): void {
  const recv = sconn._session?.recv;
  if (recv?.protocol === 'websocket') recv.connection?.once?.('close', fn);
}

/** Let a closed session's pending sockjs timer (disconnect delay) not hold the process open. */
export function unrefTimer(sconn: SockJSConn): void {
  sconn._session?.to_tref?.unref?.();
}

/** sockjs takes a numeric close code (the @types say string). */
export function closeWith(sconn: SockJSConn, code: number, reason: string): void {
  (sconn.close as unknown as (code: number, reason: string) => boolean).call(sconn, code, reason);
}

/** Close the session and drop the socket receiving for it now. */
export function dropNow(sconn: SockJSConn): void {
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
export function pauseWebSocket(sconn: SockJSConn): (() => void) | null {
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

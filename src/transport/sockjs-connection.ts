/**
 * The SockJS adapter, the thin-adapter pattern of the other transports: a sockjs
 * connection becomes a `Connection`, `opener.openSession(conn)`, incoming SockJS
 * messages go to `session.receive()` (and its `close` to `session.transportClosed()`,
 * in sockjs.ts).
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
 * - `pause()` holds the session's sending requests (sockjs-send.ts:SendQueue) and,
 *   on the websocket transport, unpipes the socket from faye-websocket's parser.
 *   `resume()` undoes both; end()/destroy() resume first.
 */
import type { IncomingMessage } from 'node:http';
import type { Connection, SessionOpener, TransportKind } from '../session/connection.js';
import type { Session } from '../session/session.js';
import { closeWith, dropNow, pauseWebSocket, queuedChars, receivingSocket, unrefTimer, type SockJSConn } from './sockjs-internals.js';
import type { SendQueue } from './sockjs-send.js';

/** sockjs's readyState of an open connection. */
const OPEN = 1;

class SockJSConnection implements Connection {
  readonly remoteAddress: string;
  request: IncomingMessage | undefined;
  /** The session on this connection (set right after the broker opened it). */
  session: Session | null = null;
  /** Undoes the pause of the websocket transport's socket (null when not paused). */
  private unpauseSocket: (() => void) | null = null;

  constructor(
    private readonly sconn: SockJSConn,
    request: IncomingMessage | undefined,
    /** The session's sending requests (HTTP transports). */
    private readonly sends: SendQueue,
  ) {
    this.remoteAddress = request?.socket?.remoteAddress ?? sconn.remoteAddress ?? '';
    this.request = request;
  }

  get transport(): TransportKind {
    return 'sockjs';
  }

  write(frame: Buffer): void {
    if (this.sconn.readyState !== OPEN) return;
    this.sconn.write(frame.toString('utf8'));
  }

  writeHeartbeat(): void {
    if (this.sconn.readyState === OPEN) this.sconn.write('\n');
  }

  bufferedAmount(): number {
    return queuedChars(this.sconn) + (receivingSocket(this.sconn)?.writableLength ?? 0);
  }

  end(): void {
    // Closing needs the peer's input again (faye reads the close handshake); held sends get their answer.
    this.resume();
    // sockjs flushes what is queued before its close frame (now, or on the next poll).
    closeWith(this.sconn, 1000, 'Normal closure');
    unrefTimer(this.sconn);
    this.closedSoon();
  }

  destroy(): void {
    this.resume();
    dropNow(this.sconn);
    this.closedSoon();
  }

  pause(): void {
    this.sends.pause();
    this.unpauseSocket ??= pauseWebSocket(this.sconn);
  }

  resume(): void {
    this.sends.resume();
    const undo = this.unpauseSocket;
    this.unpauseSocket = null;
    undo?.();
  }

  /** Report the close without waiting for sockjs's `close` (its disconnect delay). */
  private closedSoon(): void {
    setImmediate(() => this.session?.transportClosed());
  }
}

/** The adapter: one SockJS connection -> one broker session. */
export function openSockJS(opener: SessionOpener, sconn: SockJSConn, request: IncomingMessage | undefined, sends: SendQueue): Session {
  const conn = new SockJSConnection(sconn, request, sends);
  const session = opener.openSession(conn);
  conn.session = session;
  sconn.on('data', (message: string) => {
    session.receive(Buffer.from(message, 'utf8'));
  });
  return session;
}

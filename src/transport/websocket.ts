/**
 * WebSocket transport: a thin adapter from a `ws` socket to a session.
 * One STOMP frame per WebSocket message out (text when the bytes are UTF-8,
 * as Spring sends them; binary otherwise), text and binary accepted in,
 * heart-beats as a lone "\n".
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import type { WebSocket } from 'ws';
import type { Connection, SessionOpener, TransportKind } from '../session/connection.js';
import { Corker } from './cork.js';
import { waitDrained } from './drain.js';

/** Subprotocols in the server's order of preference (Spring's list). */
export const STOMP_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

export function selectSubprotocol(offered: Set<string>): string | false {
  for (const p of STOMP_SUBPROTOCOLS) if (offered.has(p)) return p;
  return false;
}

const EOL = Buffer.from('\n');

/**
 * A `ws` socket as a session's Connection. A class rather than an object of
 * closures: its methods live on the prototype, so each idle session pays only
 * for these few fields.
 */
class WebSocketConnection implements Connection {
  readonly remoteAddress: string;
  request: IncomingMessage | undefined;
  /** Corks the ws's TCP socket while frames gather (none if ws does not expose the socket). */
  private readonly corker: Corker | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** The ws's TCP socket (undefined if ws does not expose it). */
    private readonly socket: Socket | undefined,
    req: IncomingMessage,
  ) {
    this.remoteAddress = req.socket.remoteAddress ?? '';
    this.request = req;
    this.corker = socket && new Corker(socket);
  }

  get transport(): TransportKind {
    return 'websocket';
  }

  write(frame: Buffer): void {
    const ws = this.ws;
    if (ws.readyState !== ws.OPEN) return;
    this.corker?.hold();
    ws.send(frame, { binary: !isUtf8(frame) });
    this.corker?.wrote(frame.length);
  }

  writeHeartbeat(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(EOL, { binary: false });
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  flushed(): Promise<void> {
    const ws = this.ws;
    // bufferedAmount covers ws's own queue and the socket's.
    return waitDrained(() => (ws.readyState === ws.OPEN ? ws.bufferedAmount : 0), this.socket);
  }

  end(): void {
    const ws = this.ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}

export function attachWebSocket(opener: SessionOpener, ws: WebSocket, req: IncomingMessage): void {
  // ws keeps its net.Socket in `_socket`.
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  const session = opener.openSession(new WebSocketConnection(ws, socket, req));
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
    if (Buffer.isBuffer(data)) session.receive(data);
    else if (Array.isArray(data)) session.receive(Buffer.concat(data));
    else session.receive(Buffer.from(data));
  });
  ws.on('close', () => session.transportClosed());
  ws.on('error', (err) => {
    session.log.debug({ err }, 'websocket error');
    session.transportClosed();
  });
}

/**
 * What a session needs from a transport (WebSocket, SockJS, TCP, or an
 * in-memory duplex in tests). Transports are thin adapters: they call
 * `session.receive(chunk)` with incoming bytes and `session.transportClosed()`
 * when the peer goes away, and implement this interface for the way out.
 */
import type { IncomingMessage } from 'node:http';
import type { Session } from './session.js';

export type TransportKind = 'websocket' | 'sockjs' | 'tcp';

export interface Connection {
  readonly transport: TransportKind;
  readonly remoteAddress: string;
  /** The HTTP request that opened the connection: the WebSocket upgrade, or for SockJS the request that opened its session (may be a POST). */
  request?: IncomingMessage | undefined;
  /** Write one whole encoded STOMP frame (message transports send it as one message). */
  write(frame: Buffer): void;
  /** Write a heart-beat (a lone EOL). */
  writeHeartbeat(): void;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  bufferedAmount(): number;
  /**
   * Resolves once everything written so far has left this process (handed to
   * the kernel), or the connection is gone. The cluster commits a bus offset
   * only after this, so a crash after the commit cannot lose those bytes.
   */
  flushed?(): Promise<void>;
  /** Close gracefully after what is queued was flushed. */
  end(): void;
  /** Drop the connection now. */
  destroy(): void;
  /** Stop / restart reading from the peer (input backpressure). Optional. */
  pause?(): void;
  resume?(): void;
}

/** What a transport needs from the broker: a session for each connection it accepts. */
export interface SessionOpener {
  /** A session reading from and writing to `conn` (one that fails at once while the node is not accepting). */
  openSession(conn: Connection): Session;
  /** False once the node stops taking new connections (shutdown): transports refuse new ones with 503. */
  readonly accepting: boolean;
}

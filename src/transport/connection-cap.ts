/**
 * One bound on open connections for a node, over all its listeners (HTTP,
 * WebSocket and SockJS share the HTTP server; plain TCP has its own): a
 * connection past `max` is dropped as soon as it is accepted, before it
 * costs a session, a parser or a request. Refusals are counted and logged at
 * most once per LOG_EVERY_MS with how many there were.
 */
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';

const LOG_EVERY_MS = 10_000;

export class ConnectionCap {
  private open = 0;
  /** Connections dropped because the node was full. */
  refused = 0;
  private unlogged = 0;
  private lastLog = 0;

  constructor(
    readonly max: number,
    private readonly log: Logger,
  ) {}

  /** Connections currently open over the watched listeners. */
  get size(): number {
    return this.open;
  }

  /**
   * Count (and bound) the connections `server` accepts. The check runs before
   * the server's own connection listeners, which then see a destroyed socket.
   */
  watch(server: Server): void {
    server.prependListener('connection', (socket: Socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    if (this.open >= this.max) {
      this.refused++;
      this.unlogged++;
      socket.destroy();
      const now = Date.now();
      if (now - this.lastLog >= LOG_EVERY_MS) {
        this.log.warn({ max: this.max, refused: this.unlogged }, 'connection limit reached: new connections are dropped (STOMP_MAX_CONNECTIONS)');
        this.lastLog = now;
        this.unlogged = 0;
      }
      return;
    }
    this.open++;
    socket.once('close', () => this.open--);
  }
}

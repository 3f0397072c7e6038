/**
 * What every WebSocket upgrade goes through before its server takes it, shared
 * by the raw WebSocket endpoints (src/server.ts) and SockJS's websocket
 * transport (transport/sockjs.ts): while the node is not accepting connections
 * it is refused with 503; from an origin the allow-list refuses (transport/origin.ts),
 * with 403 and one info line. A refused upgrade gets a bare HTTP answer and
 * the socket is closed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { SessionOpener } from '../session/connection.js';
import type { OriginPolicy } from './origin.js';

/** An upgrade handler for paths the WebSocket endpoints do not own: true when it took (or answered) the request. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

/** The request's path, without the query string. */
export function requestPath(req: Pick<IncomingMessage, 'url'>): string {
  return (req.url ?? '/').split('?')[0]!;
}

/** Answer an upgrade request with `status` instead of upgrading it, and close the socket. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

export interface UpgradeChecks {
  /** Whether the node takes new connections. */
  readonly opener: Pick<SessionOpener, 'accepting'>;
  readonly origins: Pick<OriginPolicy, 'check'>;
  /** Where a refused origin is told (info level). */
  readonly log: Pick<Logger, 'info'>;
}

/**
 * True when the upgrade may go on; otherwise it was refused (503 while the
 * node is not accepting, else 403 for a refused origin, logged as `what` refused).
 */
export function admitUpgrade(checks: UpgradeChecks, req: Pick<IncomingMessage, 'url' | 'headers'>, socket: Duplex, what: string): boolean {
  if (!checks.opener.accepting) {
    refuseUpgrade(socket, 503, 'Service Unavailable');
    return false;
  }
  if (!checks.origins.check(req)) {
    checks.log.info({ origin: req.headers.origin, path: requestPath(req) }, `${what} refused: origin not allowed`);
    refuseUpgrade(socket, 403, 'Forbidden');
    return false;
  }
  return true;
}

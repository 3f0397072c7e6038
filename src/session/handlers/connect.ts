import { ErrorCode, StompError } from '../../errors.js';
import { SUPPORTED_VERSIONS, type Frame, type Headers, type StompVersion } from '../../stomp/frame.js';
import type { Session } from '../session.js';

/**
 * STOMP 1.2 "Protocol Negotiation": the highest version in `accept-version`
 * that the server supports; no header means 1.0; none in common is an ERROR
 * that carries the server's versions in a `version` header.
 */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion {
  if (acceptVersion === undefined) return '1.0';
  const offered = acceptVersion.split(',').map((v) => v.trim());
  for (let i = SUPPORTED_VERSIONS.length - 1; i >= 0; i--) {
    const v = SUPPORTED_VERSIONS[i]!;
    if (offered.includes(v)) return v;
  }
  throw new StompError(ErrorCode.UNSUPPORTED_VERSION, `client accepts ${acceptVersion}; this server speaks 1.0, 1.1 and 1.2`, {
    version: SUPPORTED_VERSIONS.join(','),
  });
}

/** STOMP 1.2 "Heart-beating": `heart-beat: cx,cy`, two non-negative integers; absent means 0,0. */
export function parseHeartBeat(value: string | undefined): [number, number] {
  if (value === undefined || value === '') return [0, 0];
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(value);
  if (!m) throw new StompError(ErrorCode.INVALID_HEARTBEAT, `heart-beat must be "cx,cy", got "${value}"`);
  return [Number(m[1]), Number(m[2])];
}

/**
 * Negotiated intervals from the server's side: how often the server must
 * send (writeMs) and how often it expects to hear from the client (readMs).
 * STOMP 1.2: 0 on either side means none in that direction, else the larger
 * of the two offers. Here also held within [bounds.minMs, bounds.maxMs], so no
 * client can ask for a storm (1 ms) or a timer Node cannot hold (2^31 ms),
 * and never stricter than the client was told:
 *  - writing: raised to the floor, lowered to the ceiling (beats more often
 *    than the client asked for do it no harm: any byte counts);
 *  - reading: raised to the floor (CONNECTED offers at least the floor, so the
 *    client computes it too), but a client that promised to send less often
 *    than the ceiling is not checked at all, as one that promised nothing:
 *    checking it at the ceiling would close a client that keeps its promise.
 */
export function negotiateHeartBeat(
  client: [number, number],
  server: [number, number],
  bounds: { minMs: number; maxMs: number },
): { readMs: number; writeMs: number } {
  const [cx, cy] = client;
  const [sx, sy] = server;
  const write = sx === 0 || cy === 0 ? 0 : Math.max(sx, cy);
  const read = cx === 0 || sy === 0 ? 0 : Math.max(cx, sy);
  return {
    writeMs: write === 0 ? 0 : Math.min(bounds.maxMs, Math.max(bounds.minMs, write)),
    readMs: read === 0 || read > bounds.maxMs ? 0 : Math.max(bounds.minMs, read),
  };
}

/**
 * What CONNECTED offers: the configured values held within [minMs, maxMs],
 * so a client computes from them the same intervals the server keeps.
 */
export function serverOffer(hb: { outgoingMs: number; incomingMs: number; minMs: number; maxMs: number }): [number, number] {
  const held = (ms: number): number => (ms === 0 ? 0 : Math.min(hb.maxMs, Math.max(hb.minMs, ms)));
  return [held(hb.outgoingMs), held(hb.incomingMs)];
}

/** CONNECT and STOMP frames. */
export async function connect(s: Session, f: Frame): Promise<void> {
  if (s.state !== 'awaiting-connect') throw new StompError(ErrorCode.ALREADY_CONNECTED, 'this session is already connected');
  s.state = 'connecting';
  const version = negotiateVersion(f.headers['accept-version']);
  const clientHb = version === '1.0' ? ([0, 0] as [number, number]) : parseHeartBeat(f.headers['heart-beat']);
  const cfg = s.host.config;
  const principal = await s.host.authenticate({
    headers: f.headers,
    request: s.conn.request,
    transport: s.conn.transport,
    remoteAddress: s.conn.remoteAddress,
  });
  // The request was only needed to authenticate: do not keep it (and its socket buffers) alive.
  s.conn.request = undefined;
  if (s.state !== 'connecting') return; // closed while authenticating
  // STOMP 1.0 has no heart-beating: none either way, and no heart-beat header in CONNECTED.
  const server: [number, number] = version === '1.0' ? [0, 0] : serverOffer(cfg.heartbeat);
  const { readMs, writeMs } = negotiateHeartBeat(clientHb, server, cfg.heartbeat);
  s.markConnected(version, principal, readMs, writeMs);
  // Credentials that expired while authenticating fail the session in markConnected: never register it.
  if (!s.isConnected) return;
  await s.host.sessionOpened(s);
  if (!s.isConnected) return; // closed while registering
  const headers: Headers = { version };
  if (version !== '1.0') headers['heart-beat'] = `${server[0]},${server[1]}`;
  headers['server'] = cfg.serverName;
  headers['session'] = s.id;
  if (principal) headers['user-name'] = principal.name;
  s.sendFrame({ command: 'CONNECTED', headers });
}

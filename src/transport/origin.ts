/**
 * Which browser origins may open a STOMP connection (WebSocket upgrades and
 * every SockJS request), shared by the WebSocket endpoints and SockJS.
 *
 * Entries of the allow-list (`STOMP_ALLOWED_ORIGINS`):
 *   `*`             any origin;
 *   `same-origin`   the Origin's host:port equals the request's Host header;
 *   an origin       exactly, e.g. `https://app.example.com`;
 *   with `*`s       each `*` stands for characters without a "/", e.g. `https://*.example.com`.
 * Requests without an Origin header do not come from a browser page (CSRF
 * and cross-site WebSocket hijacking need one): they are allowed.
 *
 * Unset, the list is `same-origin` when the broker accepts an ambient
 * credential (a cookie the browser attaches to any page's request, as the
 * default JWT authentication does), else `*`: a page on another site must
 * not connect as the visitor who is logged in here.
 *
 * Matching costs time linear in the Origin (no RegExp built from the
 * configuration), and an Origin longer than any real one is refused.
 */
import type { IncomingMessage } from 'node:http';

/** Longest Origin header considered (scheme, host and port of a real origin are far shorter). */
const MAX_ORIGIN_LENGTH = 512;

export interface OriginPolicy {
  /** The allow-list in effect. */
  readonly allowed: readonly string[];
  /** True when any origin may connect. */
  readonly any: boolean;
  /** May this request (its Origin and Host headers) open a connection? */
  check(req: Pick<IncomingMessage, 'headers'>): boolean;
}

/** `*` within an origin entry: characters other than "/", pieces placed leftmost (linear, no backtracking). */
function globMatch(pattern: string, s: string): boolean {
  const pieces = pattern.split('*');
  const k = pieces.length - 1;
  const first = pieces[0]!;
  const last = pieces[k]!;
  if (s.length < first.length + last.length || !s.startsWith(first) || !s.endsWith(last)) return false;
  const end = s.length - last.length;
  let pos = first.length;
  for (let i = 1; i < k; i++) {
    const p = pieces[i]!;
    const at = s.indexOf(p, pos);
    // A later place would only lengthen the gap before it: leftmost is the one to take.
    if (at < 0 || at + p.length > end || s.slice(pos, at).includes('/')) return false;
    pos = at + p.length;
  }
  return !s.slice(pos, end).includes('/');
}

/** host[:port] of an Origin value, or null when it is not an origin. */
function originHost(origin: string): string | null {
  const i = origin.indexOf('://');
  if (i <= 0) return null;
  const host = origin.slice(i + 3);
  return host.length > 0 && !host.includes('/') ? host.toLowerCase() : null;
}

/** The allow-list when none is configured (see the module comment). */
export function defaultAllowedOrigins(ambientCredentials: boolean): string[] {
  return ambientCredentials ? ['same-origin'] : ['*'];
}

export function originPolicy(allowed: readonly string[]): OriginPolicy {
  const any = allowed.includes('*');
  const sameOrigin = allowed.includes('same-origin');
  const exact = new Set(allowed.filter((a) => a !== 'same-origin' && !a.includes('*')));
  const globs = allowed.filter((a) => a !== '*' && a.includes('*'));
  return {
    allowed,
    any,
    check(req) {
      if (any) return true;
      const origin = req.headers.origin;
      if (origin === undefined) return true;
      if (origin.length > MAX_ORIGIN_LENGTH) return false;
      if (exact.has(origin)) return true;
      if (sameOrigin) {
        const host = req.headers.host;
        if (host !== undefined && originHost(origin) === host.toLowerCase()) return true;
      }
      return globs.some((g) => globMatch(g, origin));
    },
  };
}

/**
 * Which browser origins may open a STOMP connection (WebSocket upgrades and
 * every SockJS request), shared by the WebSocket endpoints and SockJS.
 *
 * Entries of the allow-list (`STOMP_ALLOWED_ORIGINS`):
 *   `*`             any origin;
 *   `same-origin`   an http(s) Origin whose host:port equals the request's Host
 *                   header, with the same scheme as far as the broker can tell
 *                   (`sameOrigin` below);
 *   an origin       exactly, e.g. `https://app.example.com`;
 *   with `*`s       each `*` stands for characters without a "/", e.g. `https://*.example.com`.
 *
 * Requests without an Origin header: browsers send none on a GET that is not
 * a CORS request (a page's <script>, <img>, <iframe>, a navigation, a
 * same-origin EventSource), so a cross-site page can make one that carries
 * the visitor's cookies. Browsers that send fetch metadata say where such a
 * request comes from: unless the list is `*`, one whose Sec-Fetch-Site is not
 * `same-origin` or `none` (typed by the user) is refused. Without either
 * header the request is not told apart from a non-browser client, and allowed
 * (SockJS turns off its transports made for such requests: transport/sockjs.ts).
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

/** What the policy reads of a request: its headers, and its socket when there is one (TLS or not). */
export type OriginRequest = Pick<IncomingMessage, 'headers'> & { readonly socket?: object | null };

export interface OriginPolicy {
  /** The allow-list in effect. */
  readonly allowed: readonly string[];
  /** True when any origin may connect. */
  readonly any: boolean;
  /** May this request (its Origin, Sec-Fetch-Site and Host headers) open a connection? */
  check(req: OriginRequest): boolean;
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

/** Scheme and host[:port] of an http(s) Origin value, or null for anything else ('null', other schemes). */
function parseOrigin(origin: string): { scheme: string; host: string } | null {
  const i = origin.indexOf('://');
  if (i <= 0) return null;
  const scheme = origin.slice(0, i).toLowerCase();
  const host = origin.slice(i + 3);
  if ((scheme !== 'http' && scheme !== 'https') || host.length === 0 || host.includes('/')) return null;
  return { scheme, host: host.toLowerCase() };
}

/** A TLS socket (node:tls TLSSocket) has `encrypted: true`. */
function isTls(socket: object | null | undefined): boolean {
  return !!socket && (socket as { encrypted?: unknown }).encrypted === true;
}

/**
 * The `same-origin` entry: the Origin's host:port is the Host header, and its
 * scheme is the request's. The broker knows the request's scheme only when it
 * terminates TLS itself (then the Origin must be https); on a plain socket a
 * TLS-terminating proxy may be in front (the usual set-up) and nothing in the
 * broker trusts X-Forwarded-Proto, so the scheme is left to the browser: when
 * it sends Sec-Fetch-Site (every current browser does, on https), it must say
 * `same-origin`, which a page of the same host and port but the other scheme
 * (http://host next to https://host) is not.
 */
function sameOrigin(req: OriginRequest, origin: string): boolean {
  const o = parseOrigin(origin);
  const host = req.headers.host;
  if (!o || host === undefined || o.host !== host.toLowerCase()) return false;
  if (isTls(req.socket) && o.scheme !== 'https') return false;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin';
}

/** A request without an Origin: refused when the browser says another site made it (see the module comment). */
function originlessAllowed(req: OriginRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** The allow-list when none is configured (see the module comment). */
export function defaultAllowedOrigins(ambientCredentials: boolean): string[] {
  return ambientCredentials ? ['same-origin'] : ['*'];
}

export function originPolicy(allowed: readonly string[]): OriginPolicy {
  const any = allowed.includes('*');
  const allowSameOrigin = allowed.includes('same-origin');
  const exact = new Set(allowed.filter((a) => a !== 'same-origin' && !a.includes('*')));
  const globs = allowed.filter((a) => a !== '*' && a.includes('*'));
  return {
    allowed,
    any,
    check(req) {
      if (any) return true;
      const origin = req.headers.origin;
      if (origin === undefined) return originlessAllowed(req);
      if (origin.length > MAX_ORIGIN_LENGTH) return false;
      if (exact.has(origin)) return true;
      if (allowSameOrigin && sameOrigin(req, origin)) return true;
      return globs.some((g) => globMatch(g, origin));
    },
  };
}

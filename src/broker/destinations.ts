/**
 * Destination classification, mirroring Spring's conventions
 * (docs/design.md "Destinations and Spring conventions"):
 *   /app/...    -> application handlers (setApplicationDestinationPrefixes)
 *   /topic/...  -> pub/sub (enableSimpleBroker)
 *   /queue/...  -> point-to-point queues
 *   /user/...   -> user destinations (setUserDestinationPrefix)
 */
import type { BrokerConfig } from '../config.js';

export type Destination =
  | { kind: 'app'; destination: string; /** Path after the app prefix, e.g. /chat */ path: string }
  | { kind: 'topic'; destination: string }
  | { kind: 'queue'; destination: string }
  /**
   * A user destination. `user` is the explicit target of /user/{name}/..., or null for
   * the session's own /user/queue/x form. `path` is what the user is addressed at (/queue/x).
   */
  | { kind: 'user'; destination: string; user: string | null; path: string }
  | { kind: 'invalid'; destination: string; reason: string; forbidden?: boolean };

function under(d: string, prefix: string): boolean {
  return d.length > prefix.length && d.startsWith(prefix) && d[prefix.length] === '/';
}

function isIdChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 /* - */ || c === 95 /* _ */;
}

/**
 * Spring's internal per-session form /queue/x-user<sessionId>: the
 * destination ends in `-user` and then id characters ([A-Za-z0-9_-]), at
 * least one of them a digit (session ids contain one). One pass from the
 * end: the trailing run of id characters holds every candidate `-user`, and
 * the leftmost one has the most characters after it, so it decides.
 */
export function isSpringSessionForm(d: string): boolean {
  let runStart = d.length;
  while (runStart > 0 && isIdChar(d.charCodeAt(runStart - 1))) runStart--;
  const at = d.indexOf('-user', runStart);
  if (at < 0 || at + 5 >= d.length) return false;
  for (let i = at + 5; i < d.length; i++) {
    const c = d.charCodeAt(i);
    if (c >= 48 && c <= 57) return true;
  }
  return false;
}

export class DestinationResolver {
  private readonly cfg: Pick<BrokerConfig, 'appPrefixes' | 'topicPrefixes' | 'queuePrefixes' | 'userPrefix'>;

  constructor(cfg: Pick<BrokerConfig, 'appPrefixes' | 'topicPrefixes' | 'queuePrefixes' | 'userPrefix'>) {
    this.cfg = cfg;
  }

  /** True for the broker-managed prefixes (topic or queue) of `path`. */
  isBrokerPath(path: string): boolean {
    return this.cfg.topicPrefixes.some((p) => under(path, p)) || this.cfg.queuePrefixes.some((p) => under(path, p));
  }

  classify(destination: string): Destination {
    const d = destination;
    if (d.length === 0 || d[0] !== '/') return { kind: 'invalid', destination: d, reason: 'destination must start with /' };
    if (d.includes('//') || d.includes('\0')) return { kind: 'invalid', destination: d, reason: 'malformed destination' };
    if (isSpringSessionForm(d))
      return {
        kind: 'invalid',
        destination: d,
        reason: "Spring's internal per-session destinations (-user<sessionId>) are not accessible",
        forbidden: true,
      };
    const { userPrefix } = this.cfg;
    if (under(d, userPrefix)) {
      const rest = d.slice(userPrefix.length); // "/queue/x" or "/bob/queue/x"
      if (this.isBrokerPath(rest)) return { kind: 'user', destination: d, user: null, path: rest };
      const slash = rest.indexOf('/', 1);
      if (slash < 0) return { kind: 'invalid', destination: d, reason: 'user destination needs a path' };
      const name = decodeUserName(rest.slice(1, slash));
      return { kind: 'user', destination: d, user: name, path: rest.slice(slash) };
    }
    for (const p of this.cfg.appPrefixes) if (under(d, p)) return { kind: 'app', destination: d, path: d.slice(p.length) };
    for (const p of this.cfg.topicPrefixes) if (under(d, p)) return { kind: 'topic', destination: d };
    for (const p of this.cfg.queuePrefixes) if (under(d, p)) return { kind: 'queue', destination: d };
    return { kind: 'invalid', destination: d, reason: 'unknown destination prefix' };
  }
}

/** Spring encodes "/" in user names as "%2F" inside /user/{name}/... */
export function decodeUserName(s: string): string {
  return s.includes('%2F') || s.includes('%2f') ? s.replace(/%2F/gi, '/') : s;
}

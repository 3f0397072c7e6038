/**
 * Application handlers for /app destinations (Spring's @MessageMapping).
 * Patterns follow Ant style with {variables} (Spring's @DestinationVariable).
 * A handler's return value is sent on like Spring's @SendTo / @SendToUser;
 * with neither option it goes to the topic prefix + the mapped path (Spring's default).
 */
import type { Frame, Headers } from '../stomp/frame.js';
import { withoutBrokerOnly } from './body.js';
import { compilePattern, type CompiledPattern } from './pattern.js';

export interface AppMessage {
  /** Full destination, e.g. /app/chat/room1 */
  destination: string;
  /** Destination after the application prefix, e.g. /chat/room1 */
  path: string;
  /** {variables} captured from the mapping pattern. */
  params: Record<string, string>;
  /** The sending session's user (null for anonymous sessions). */
  user: string | null;
  sessionId: string;
  /**
   * The SEND frame's headers, less those only the broker sets (`x-sender`,
   * `user-name`, ... in any case: see body.ts): a handler that passes them on
   * cannot forward a sender the client made up. Who sent it is `user`.
   */
  headers: Headers;
  body: Buffer;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
}

export interface HandlerOptions {
  /** Send the return value to this topic (Spring's @SendTo). */
  sendTo?: string;
  /** Send the return value to the sending user at this destination (Spring's @SendToUser), e.g. /queue/reply */
  sendToUser?: string;
}

export type AppHandler = (msg: AppMessage) => unknown;

/** The message an /app handler gets for a client SEND. */
export function appMessage(
  frame: Frame,
  at: { destination: string; path: string; params: Record<string, string> },
  from: { user: string | null; sessionId: string },
): AppMessage {
  const body = frame.body;
  return {
    ...at,
    ...from,
    headers: withoutBrokerOnly(frame.headers),
    body,
    text: () => body.toString('utf8'),
    json: <T>() => JSON.parse(body.toString('utf8')) as T,
  };
}

export interface Mapping {
  pattern: CompiledPattern;
  fn: AppHandler;
  opts: HandlerOptions;
}

export class AppHandlers {
  private readonly exact = new Map<string, Mapping>();
  private readonly patterns: Mapping[] = [];

  add(path: string, fn: AppHandler, opts: HandlerOptions = {}): void {
    if (!path.startsWith('/')) throw new Error(`handler path must start with /, got "${path}"`);
    const m: Mapping = { pattern: compilePattern(path), fn, opts };
    if (m.pattern.literal) this.exact.set(path, m);
    else this.patterns.push(m);
  }

  find(path: string): { mapping: Mapping; params: Record<string, string> } | null {
    const m = this.exact.get(path);
    if (m) return { mapping: m, params: {} };
    for (const p of this.patterns) {
      const params = p.pattern.match(path);
      if (params) return { mapping: p, params };
    }
    return null;
  }
}

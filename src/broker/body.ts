import { setHeader } from '../stomp/frame.js';

/** Server-side bodies: Buffers as they are, strings as UTF-8 text, anything else as JSON (like Spring's converters). */
export interface EncodedBody {
  body: Buffer;
  contentType: string | null;
}

export function encodeBody(value: unknown): EncodedBody {
  if (Buffer.isBuffer(value)) return { body: value, contentType: null };
  if (value instanceof Uint8Array) return { body: Buffer.from(value.buffer, value.byteOffset, value.byteLength), contentType: null };
  if (typeof value === 'string') return { body: Buffer.from(value, 'utf8'), contentType: 'text/plain;charset=UTF-8' };
  if (value === undefined) return { body: Buffer.alloc(0), contentType: null };
  return { body: Buffer.from(JSON.stringify(value), 'utf8'), contentType: 'application/json' };
}

/**
 * MESSAGE header naming who sent a message that came from a client SEND: the
 * sender's user name, or empty for a session without a user. The broker sets
 * it and strips any copy a client sent, so a receiver can tell a peer's
 * message (header present) from a server-side push (absent, unless server
 * code set it).
 */
export const SENDER_HEADER = 'x-sender';

/** Headers of a client SEND that are protocol headers, not message headers. */
export const RESERVED_SEND_HEADERS = new Set(['destination', 'receipt', 'transaction', 'content-length', 'message-id', 'subscription', 'ack', 'id']);

/**
 * Headers only the broker sets (lower case). A client's copy is dropped in any
 * case (`X-Sender` too: a receiver or a framework may read names without
 * regard to case), so nobody can pass for another sender, a redelivery, a
 * replay or a dead letter. (The queue manager sets `x-dead-letter-from`.)
 */
export const BROKER_ONLY_HEADERS: ReadonlySet<string> = new Set(['redelivered', 'x-replay', SENDER_HEADER, 'user-name', 'x-dead-letter-from']);

/** The longest name in BROKER_ONLY_HEADERS: a longer one is not lower-cased to be looked up. */
const LONGEST_BROKER_ONLY = Math.max(...[...BROKER_ONLY_HEADERS].map((h) => h.length));

/** True for a header name only the broker may set, in any case. */
export function isBrokerOnlyHeader(name: string): boolean {
  return name.length <= LONGEST_BROKER_ONLY && BROKER_ONLY_HEADERS.has(name.toLowerCase());
}

/** The message headers of a client SEND from `sender` (null: a session without a user). */
export function messageHeaders(headers: Record<string, string>, sender: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in headers) if (!RESERVED_SEND_HEADERS.has(k) && !isBrokerOnlyHeader(k)) setHeader(out, k, headers[k]!);
  out[SENDER_HEADER] = sender ?? '';
  return out;
}

/** A client SEND's headers without those only the broker sets (what an /app handler sees). */
export function withoutBrokerOnly(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const k in headers) if (!isBrokerOnlyHeader(k)) setHeader(out, k, headers[k]!);
  return out;
}

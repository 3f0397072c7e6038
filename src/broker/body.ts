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

/** Headers of a client SEND that are protocol headers, not message headers. */
export const RESERVED_SEND_HEADERS = new Set([
  'destination',
  'receipt',
  'transaction',
  'content-length',
  'message-id',
  'subscription',
  'ack',
  'id',
  // Set by the broker only: a client must not be able to fake them.
  'redelivered',
  'x-replay',
]);

export function messageHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in headers) if (!RESERVED_SEND_HEADERS.has(k)) out[k] = headers[k]!;
  return out;
}

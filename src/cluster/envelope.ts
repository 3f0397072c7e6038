/**
 * Binary codec for Envelope: what travels on the Kafka bus and what waits in
 * the Redis inbox. Pure, no I/O.
 *
 * Layout (version 1):
 *
 *   offset 0       uint8   format version (1)
 *   offset 1       uint32  byte length M of the metadata (big endian)
 *   offset 5       M bytes UTF-8 JSON array
 *                          [id, kind, user|null, destination, headers, hops, origin, ts]
 *   offset 5 + M   ...     the body, raw bytes (binary safe, never re-encoded)
 *
 * A batch (version 2) carries several version-1 envelopes in one bus message,
 * so a burst routed in one event-loop turn costs the bus one record, not one
 * per envelope:
 *
 *   offset 0       uint8   format version (2)
 *   offset 1       uint32  number of envelopes N (big endian)
 *   then N times   uint32  byte length L, then L bytes: one version-1 envelope
 *
 * decodeEnvelope() returns a body that is a view into the input buffer (no copy);
 * decodeEnvelopes() reads either version and returns the envelopes in order
 * (bodies of a batch of several are copied, so one kept message does not keep
 * the whole batch's buffer alive).
 */
import type { Envelope } from './types.js';
import { ClusterError, ClusterErrorCode } from './errors.js';

export const ENVELOPE_VERSION = 1;
export const BATCH_VERSION = 2;
const HEADER_BYTES = 5;

export function encodeEnvelope(env: Envelope): Buffer {
  const meta = Buffer.from(
    JSON.stringify([
      env.id,
      env.kind,
      env.user ?? null,
      env.destination,
      env.headers,
      env.hops,
      env.origin,
      env.ts,
    ]),
    'utf8',
  );
  const body = env.body ?? Buffer.alloc(0);
  const out = Buffer.allocUnsafe(HEADER_BYTES + meta.length + body.length);
  out[0] = ENVELOPE_VERSION;
  out.writeUInt32BE(meta.length, 1);
  meta.copy(out, HEADER_BYTES);
  body.copy(out, HEADER_BYTES + meta.length);
  return out;
}

function bad(detail: string): ClusterError {
  return new ClusterError(ClusterErrorCode.BAD_ENVELOPE, `invalid envelope: ${detail}`);
}

export function decodeEnvelope(buf: Buffer | Uint8Array | null | undefined): Envelope {
  if (!buf || !(buf instanceof Uint8Array)) throw bad('not a buffer');
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < HEADER_BYTES) throw bad(`${b.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  if (b[0] !== ENVELOPE_VERSION) throw bad(`unsupported version ${b[0]}`);
  const metaLen = b.readUInt32BE(1);
  if (metaLen > b.length - HEADER_BYTES) throw bad(`metadata length ${metaLen} exceeds the ${b.length}-byte buffer`);

  let meta: unknown;
  try {
    meta = JSON.parse(b.toString('utf8', HEADER_BYTES, HEADER_BYTES + metaLen));
  } catch {
    throw bad('metadata is not JSON');
  }
  if (!Array.isArray(meta) || meta.length !== 8) throw bad('metadata is not an 8-element array');
  const [id, kind, user, destination, headers, hops, origin, ts] = meta as unknown[];
  if (typeof id !== 'string' || id.length === 0) throw bad('id must be a non-empty string');
  if (kind !== 'user' && kind !== 'topic' && kind !== 'event') throw bad(`unknown kind ${JSON.stringify(kind)}`);
  if (user !== null && typeof user !== 'string') throw bad('user must be a string or null');
  if (kind !== 'topic' && (typeof user !== 'string' || user.length === 0)) throw bad(`a ${kind} envelope needs a user`);
  if (typeof destination !== 'string') throw bad('destination must be a string');
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) throw bad('headers must be an object');
  for (const v of Object.values(headers)) {
    if (typeof v !== 'string') throw bad('header values must be strings');
  }
  if (typeof hops !== 'number' || !Number.isInteger(hops) || hops < 0) throw bad('hops must be a non-negative integer');
  if (typeof origin !== 'string') throw bad('origin must be a string');
  if (typeof ts !== 'number' || !Number.isFinite(ts)) throw bad('ts must be a number');

  const h = headers as Record<string, string>;
  const body = b.subarray(HEADER_BYTES + metaLen);
  // Literals with every field, not spreads: one is made per envelope received.
  if (kind === 'topic') return { kind, id, destination, headers: h, body, hops, origin, ts };
  return { kind, user: user as string, id, destination, headers: h, body, hops, origin, ts };
}

/** Bytes a batch adds around its envelopes: the batch header plus a length per envelope. */
export function batchOverhead(count: number): number {
  return HEADER_BYTES + 4 * count;
}

/** One bus message carrying several encoded (version-1) envelopes, in order. */
export function encodeEnvelopeBatch(encoded: readonly Buffer[]): Buffer {
  let size = batchOverhead(encoded.length);
  for (const e of encoded) size += e.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = BATCH_VERSION;
  out.writeUInt32BE(encoded.length, 1);
  let at = HEADER_BYTES;
  for (const e of encoded) {
    out.writeUInt32BE(e.length, at);
    e.copy(out, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/**
 * The envelopes of one bus message: a single envelope (version 1) or a batch
 * (version 2). A batch whose framing is broken throws; with `onBadEntry`, an
 * entry that is not a valid envelope inside intact framing is reported and
 * skipped instead of failing the whole batch.
 */
export function decodeEnvelopes(buf: Buffer | Uint8Array | null | undefined, onBadEntry?: (err: ClusterError, index: number) => void): Envelope[] {
  if (!buf || !(buf instanceof Uint8Array)) throw bad('not a buffer');
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length > 0 && b[0] === ENVELOPE_VERSION) return [decodeEnvelope(b)];
  if (b.length < HEADER_BYTES) throw bad(`${b.length} bytes is shorter than the ${HEADER_BYTES}-byte header`);
  if (b[0] !== BATCH_VERSION) throw bad(`unsupported version ${b[0]}`);
  const count = b.readUInt32BE(1);
  if (count > (b.length - HEADER_BYTES) / 4) throw bad(`batch count ${count} exceeds the ${b.length}-byte buffer`);
  const out: Envelope[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + 4 > b.length) throw bad(`batch entry ${i} is cut short`);
    const len = b.readUInt32BE(at);
    if (len > b.length - at - 4) throw bad(`batch entry ${i} length ${len} exceeds the buffer`);
    let env: Envelope | null = null;
    try {
      env = decodeEnvelope(b.subarray(at + 4, at + 4 + len));
    } catch (err) {
      if (!onBadEntry || !(err instanceof ClusterError)) throw err;
      onBadEntry(err, i);
    }
    if (env) {
      // A body kept for long (unacked, queued, in an inbox replay) must not pin the whole batch.
      if (count > 1) env.body = Buffer.from(env.body);
      out.push(env);
    }
    at += 4 + len;
  }
  if (at !== b.length) throw bad(`${b.length - at} bytes after the last batch entry`);
  return out;
}

/** How many envelopes one bus message carries, read from its header only (1 for anything that is not a batch). */
export function envelopeCount(buf: Buffer | Uint8Array | null | undefined): number {
  if (!buf || buf.length < HEADER_BYTES || buf[0] !== BATCH_VERSION) return 1;
  return Math.max(1, ((buf[1]! << 24) >>> 0) + (buf[2]! << 16) + (buf[3]! << 8) + buf[4]!);
}

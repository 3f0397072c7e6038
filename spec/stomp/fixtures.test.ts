/**
 * Table-driven codec tests (habit 5): for each fixture parse, encode, round
 * trip, and parse split at every byte offset and byte by byte.
 */

import { createHash } from 'node:crypto';
import t from 'tap';
import { encodeFrame, encodeFrameParts, HEARTBEAT_EOL, NULL_BYTE } from '../../src/stomp/encoder.js';
import { DEFAULT_PARSER_LIMITS } from '../../src/stomp/parser.js';
import type { Frame, StompVersion } from '../../src/stomp/frame.js';
import {
  AT_LIMIT_FIXTURES,
  ERROR_FIXTURES,
  FIXTURES,
  byteByByte,
  bytes,
  run,
  splitAt,
  splitPoints,
  type Event,
  type Outcome,
} from './fixtures/codec.js';

const digest = (e: Event): unknown =>
  e !== 'HB' && e.body.length > 1024 ? { ...e, body: createHash('sha1').update(e.body, 'latin1').digest('hex') } : e;
const key = (o: Outcome): string => JSON.stringify([o.events.map(digest), o.error]);

/** Offsets at which splitting the input changes the outcome (should be none). */
function badSplits(wire: Buffer, expected: Outcome, opts: Parameters<typeof run>[1]): number[] {
  const want = key(expected);
  return splitPoints(wire.length).filter((at) => {
    const r = run(splitAt(wire, at), opts);
    return key(r) !== want || r.afterError !== 0;
  });
}

/** The fixture's frames (as parsed) encoded back, heart-beats as EOLs. */
function encodeAll(items: (Frame | 'HB')[], version: StompVersion): Buffer {
  return Buffer.concat(items.map((f) => (f === 'HB' ? HEARTBEAT_EOL : encodeFrame(f, version))));
}

/** What a parse of the encoder's output must give: content-length set to the true byte length. */
function withTrueLength(e: Event): Event {
  if (e === 'HB') return e;
  const len = Buffer.byteLength(e.body, 'latin1');
  const headers = { ...e.headers };
  if (headers['content-length'] !== undefined || len > 0) headers['content-length'] = String(len);
  return { ...e, headers };
}

for (const fx of FIXTURES) {
  t.test(fx.name, async (t) => {
    const wire = bytes(fx.wire);
    const version = fx.version ?? '1.2';
    const opts = { version };
    const expected: Outcome = { events: fx.events, error: null };

    const whole = run([wire], opts);
    t.same(whole.events, fx.events, 'parse as one chunk');
    t.equal(whole.error, null, 'no error');
    t.equal(whole.parser.bufferedBytes, 0, 'nothing left buffered');
    for (const f of whole.frames) {
      t.equal(Object.getPrototypeOf(f.headers), null, 'headers have a null prototype');
      if (f.body.length > 0) t.equal(f.body.buffer, wire.buffer, 'body is a view of the chunk (no copy)');
    }

    t.same(badSplits(wire, expected, opts), [], 'same result split at every offset');
    const bytewise = run(byteByByte(wire), opts);
    t.same(bytewise.events, fx.events, 'same result byte by byte');
    t.equal(bytewise.error, null);

    if (fx.canonical === false) return;
    // encode the parsed frames, keeping heart-beats in place
    let i = 0;
    const parsed = fx.events.map((e) => (e === 'HB' ? ('HB' as const) : (whole.frames[i++] as Frame)));
    const encoded = encodeAll(parsed, version);
    t.equal(encoded.toString('latin1'), bytes(fx.canonical ?? fx.wire).toString('latin1'), 'encode');

    for (const f of whole.frames) {
      const [head, body] = encodeFrameParts(f, version);
      const joined = body === null ? head : Buffer.concat([head, body, NULL_BYTE]);
      t.same(joined, encodeFrame(f, version), 'encodeFrameParts joins to encodeFrame');
    }

    const again = run([encoded], opts);
    t.same(again.events, fx.events.map(withTrueLength), 'round trip: parse(encode(parse(wire)))');
    t.equal(again.error, null);
  });
}

for (const fx of ERROR_FIXTURES) {
  t.test(`error: ${fx.name}`, async (t) => {
    const wire = bytes(fx.wire);
    const opts = { version: fx.version ?? ('1.2' as const), limits: fx.limits };
    const expected: Outcome = { events: fx.before ?? [], error: fx.code };

    const whole = run([wire], opts);
    t.equal(whole.error, fx.code, 'error code');
    t.same(whole.events, expected.events, 'frames before the error');
    t.equal(whole.afterError, 0, 'nothing reported after the error');
    t.ok(whole.parser.failed, 'parser is dead');
    t.equal(whole.parser.bufferedBytes, 0, 'buffers released');

    whole.parser.push(bytes('SEND\n\nmore\0\n'));
    t.equal(whole.afterError, 0, 'push after the error is ignored');

    t.same(badSplits(wire, expected, opts), [], 'same error split at every offset');
    const bytewise = run(byteByByte(wire), opts);
    t.equal(bytewise.error, fx.code, 'same error byte by byte');
    t.same(bytewise.events, expected.events);
    t.equal(bytewise.afterError, 0);
  });
}

for (const fx of AT_LIMIT_FIXTURES) {
  t.test(`at limit: ${fx.name}`, async (t) => {
    const wire = bytes(fx.wire);
    const whole = run([wire], { limits: fx.limits });
    t.equal(whole.error, null, 'no error');
    t.equal(whole.frames.length, 1, 'one frame');
    const max = fx.limits?.maxFrameBytes ?? DEFAULT_PARSER_LIMITS.maxFrameBytes;
    t.ok(whole.maxBuffered <= max + 1, 'buffered at most one frame');
    const expected: Outcome = { events: whole.events, error: null };
    t.same(badSplits(wire, expected, { limits: fx.limits }), [], 'same result split at every offset');
  });
}

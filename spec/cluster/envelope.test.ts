/**
 * The envelope codec (src/cluster/envelope.ts): round trips, layout, and every
 * kind of bad input ending in a CLUSTER_ERR_BAD_ENVELOPE — never another error.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { BATCH_VERSION, decodeEnvelope, decodeEnvelopes, encodeEnvelope, encodeEnvelopeBatch, ENVELOPE_VERSION, envelopeCount } from '../../src/cluster/envelope.js';
import { ClusterErrorCode, isClusterError } from '../../src/cluster/errors.js';
import type { Envelope } from '../../src/cluster/types.js';
import { type Tap, binaryBody, makeEnvelope, sameEnvelope, makeTopicEnvelope, makeEventEnvelope } from '../conformance/fixtures.js';

const fixtures: Array<[string, Envelope]> = [
  ['user envelope', makeEnvelope()],
  ['topic envelope without user', makeTopicEnvelope({ destination: '/topic/a.b' })],
  ['event envelope', makeEventEnvelope({ destination: 'node-left', body: Buffer.from('{"node":"n1"}') })],
  ['empty body, no headers', makeEnvelope({ body: Buffer.alloc(0), headers: {} })],
  ['binary body', makeEnvelope({ body: binaryBody(10_000) })],
  ['unicode everywhere', makeEnvelope({ user: 'ünï 😀', destination: '/queue/ü', headers: { 'x-ü': 'v\nw:x\\y', '': '' }, origin: 'nœud' })],
  ['hops and ts', makeEnvelope({ hops: 3, ts: 0 })],
];

for (const [name, env] of fixtures) {
  t.test(`round trip: ${name}`, async (t) => {
    const buf = encodeEnvelope(env);
    t.equal(buf[0], ENVELOPE_VERSION, 'version byte');
    const metaLen = buf.readUInt32BE(1);
    t.equal(buf.length, 5 + metaLen + env.body.length, 'header + metadata + body');
    t.ok(buf.subarray(5 + metaLen).equals(env.body), 'body stored raw at the end');
    const back = decodeEnvelope(buf);
    sameEnvelope(t, back, env);
    t.equal(back.body.buffer, buf.buffer, 'decoded body is a view, not a copy');
    t.equal('user' in back, env.user !== undefined, 'user present only when set');
  });
}

function expectBad(t: Tap, input: unknown, what: string): void {
  try {
    decodeEnvelope(input as Buffer);
    t.fail(`${what}: decoded`);
  } catch (err) {
    t.ok(isClusterError(err, ClusterErrorCode.BAD_ENVELOPE), `${what}: ${(err as Error).message}`);
  }
}

function withMeta(meta: unknown, body = Buffer.from('b')): Buffer {
  const m = Buffer.from(typeof meta === 'string' ? meta : JSON.stringify(meta));
  const head = Buffer.alloc(5);
  head[0] = ENVELOPE_VERSION;
  head.writeUInt32BE(m.length, 1);
  return Buffer.concat([head, m, body]);
}

const good = ['id', 'user', 'alice', '/q', {}, 0, 'n1', 1];
const replace = (i: number, v: unknown): unknown[] => good.map((x, j) => (j === i ? v : x));

t.test('bad input ends in CLUSTER_ERR_BAD_ENVELOPE', async (t) => {
  t.ok(decodeEnvelope(withMeta(good)), 'the base case decodes');
  expectBad(t, null, 'null');
  expectBad(t, undefined, 'undefined');
  expectBad(t, 'a string', 'a string');
  expectBad(t, Buffer.alloc(0), 'empty');
  expectBad(t, Buffer.from([1, 0, 0]), 'short header');
  expectBad(t, Buffer.from([2, 0, 0, 0, 2, 0x5b, 0x5d]), 'unknown version');
  expectBad(t, Buffer.from([1, 0xff, 0xff, 0xff, 0xff, 0x5b]), 'metadata length past the end');
  expectBad(t, withMeta('{not json'), 'metadata not JSON');
  expectBad(t, withMeta({ id: 'x' }), 'metadata not an array');
  expectBad(t, withMeta(good.slice(0, 7)), 'too few fields');
  expectBad(t, withMeta([...good, 'extra']), 'too many fields');
  expectBad(t, withMeta(replace(0, '')), 'empty id');
  expectBad(t, withMeta(replace(0, 5)), 'id not a string');
  expectBad(t, withMeta(replace(1, 'queue')), 'unknown kind');
  expectBad(t, withMeta(replace(2, 7)), 'user not a string');
  expectBad(t, withMeta(replace(3, null)), 'destination not a string');
  expectBad(t, withMeta(replace(4, [])), 'headers an array');
  expectBad(t, withMeta(replace(4, null)), 'headers null');
  expectBad(t, withMeta(replace(4, { a: 1 })), 'header value not a string');
  expectBad(t, withMeta(replace(5, -1)), 'negative hops');
  expectBad(t, withMeta(replace(5, 1.5)), 'fractional hops');
  expectBad(t, withMeta(replace(6, null)), 'origin not a string');
  expectBad(t, withMeta(replace(7, 'now')), 'ts not a number');
});

t.test('truncated at every offset: decodes (body cut) or a coded error, nothing else', async (t) => {
  const buf = encodeEnvelope(makeEnvelope({ body: Buffer.from('0123456789') }));
  const metaEnd = 5 + buf.readUInt32BE(1);
  let coded = 0;
  for (let n = 0; n < buf.length; n++) {
    try {
      const env = decodeEnvelope(buf.subarray(0, n));
      if (n < metaEnd) t.fail(`decoded with only ${n} of ${metaEnd} header+metadata bytes`);
      else if (env.body.length !== n - metaEnd) t.fail(`body length at ${n}`);
    } catch (err) {
      if (!isClusterError(err, ClusterErrorCode.BAD_ENVELOPE)) throw err;
      coded++;
    }
  }
  t.equal(coded, metaEnd, 'every cut inside header or metadata is a coded error');
});

t.test('random mutations: decodes or a coded error, never a crash', async (t) => {
  const base = encodeEnvelope(makeEnvelope({ body: randomBytes(64) }));
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.from(base);
    const flips = 1 + (i % 4);
    for (let f = 0; f < flips; f++) buf[Math.floor(Math.random() * buf.length)] = Math.floor(Math.random() * 256);
    try {
      decodeEnvelope(buf);
      decoded++;
    } catch (err) {
      if (!isClusterError(err, ClusterErrorCode.BAD_ENVELOPE)) throw err;
      rejected++;
    }
  }
  t.equal(decoded + rejected, 3000);
  t.ok(rejected > 0, `${rejected} rejected, ${decoded} decoded`);
  for (let i = 0; i < 500; i++) {
    try {
      decodeEnvelope(randomBytes(Math.floor(Math.random() * 64)));
    } catch (err) {
      if (!isClusterError(err, ClusterErrorCode.BAD_ENVELOPE)) throw err;
    }
  }
  t.pass('random bytes');
});

t.test('batch: every fixture in one message, in order; a lone envelope decodes as a one-element batch', async (t) => {
  const envs = fixtures.map(([, e]) => e);
  const buf = encodeEnvelopeBatch(envs.map(encodeEnvelope));
  t.equal(buf[0], BATCH_VERSION, 'batch version byte');
  t.equal(buf.readUInt32BE(1), envs.length, 'count');
  const back = decodeEnvelopes(buf);
  t.equal(back.length, envs.length, 'as many envelopes as went in');
  back.forEach((b, i) => sameEnvelope(t, b, envs[i]!));
  t.not(back[4]!.body.buffer, buf.buffer, 'bodies are copies: a kept message does not pin the batch');
  const one = decodeEnvelopes(encodeEnvelope(envs[0]!));
  t.equal(one.length, 1);
  sameEnvelope(t, one[0]!, envs[0]!);
  t.same(decodeEnvelopes(encodeEnvelopeBatch([])), [], 'an empty batch is no envelopes');
});

t.test('batch: truncated at every offset or with trailing bytes: a coded error, never a crash or a partial list', async (t) => {
  const buf = encodeEnvelopeBatch([makeEnvelope(), makeEnvelope({ id: 'e2', body: binaryBody(300) })].map(encodeEnvelope));
  let bad = 0;
  for (let cut = 0; cut < buf.length; cut++) {
    try {
      decodeEnvelopes(buf.subarray(0, cut));
      t.fail(`cut at ${cut} decoded`);
    } catch (err) {
      if (isClusterError(err, ClusterErrorCode.BAD_ENVELOPE)) bad++;
      else t.fail(`cut at ${cut}: ${String(err)}`);
    }
  }
  t.equal(bad, buf.length, 'every cut is CLUSTER_ERR_BAD_ENVELOPE');
  t.throws(() => decodeEnvelopes(Buffer.concat([buf, Buffer.from([0])])), { code: ClusterErrorCode.BAD_ENVELOPE }, 'trailing byte');
  const huge = Buffer.from(buf);
  huge.writeUInt32BE(0xffffffff, 1);
  t.throws(() => decodeEnvelopes(huge), { code: ClusterErrorCode.BAD_ENVELOPE }, 'count larger than the buffer');
  t.throws(() => decodeEnvelopes(Buffer.from([9, 0, 0, 0, 0])), { code: ClusterErrorCode.BAD_ENVELOPE }, 'unknown version');
});

t.test('envelopeCount reads a batch header without decoding; anything else counts as one', async (t) => {
  const three = encodeEnvelopeBatch([makeEnvelope(), makeEnvelope(), makeEnvelope()].map(encodeEnvelope));
  t.equal(envelopeCount(three), 3, 'batch of three');
  t.equal(envelopeCount(encodeEnvelope(makeEnvelope())), 1, 'a lone envelope');
  t.equal(envelopeCount(Buffer.from('garbage')), 1, 'garbage');
  t.equal(envelopeCount(null), 1, 'no value');
});

t.test('batch: with onBadEntry, one broken envelope inside intact framing is reported and skipped, the rest kept in order', async (t) => {
  const good1 = makeEnvelope({ id: 'g1' });
  const good2 = makeEnvelope({ id: 'g2' });
  const broken = encodeEnvelope(makeEnvelope({ id: 'x' }));
  broken[0] = 7; // not a known version
  const buf = encodeEnvelopeBatch([encodeEnvelope(good1), broken, encodeEnvelope(good2)]);
  t.throws(() => decodeEnvelopes(buf), { code: ClusterErrorCode.BAD_ENVELOPE }, 'without the callback the batch fails');
  const bad: number[] = [];
  const back = decodeEnvelopes(buf, (err, i) => {
    t.equal(err.code, ClusterErrorCode.BAD_ENVELOPE);
    bad.push(i);
  });
  t.same(back.map((e) => e.id), ['g1', 'g2'], 'the good ones, in order');
  t.same(bad, [1], 'the broken one reported by index');
});

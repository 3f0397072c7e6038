/**
 * The /topic index (src/broker/topics.ts): patterns kept by their literal
 * head, one matcher per distinct pattern, a bound on distinct patterns.
 * Checked against matching every pattern on thousands of random cases.
 */
import t from 'tap';
import { compilePattern, type CompiledPattern } from '../../src/broker/pattern.js';
import { TopicIndex } from '../../src/broker/topics.js';
import { ErrorCode, StompError } from '../../src/errors.js';
import type { Session } from '../../src/session/session.js';
import { Subscription } from '../../src/session/subscription.js';

const SESSION = {} as Session; // never read by the index
let n = 0;
function sub(destination: string): Subscription {
  return new Subscription(SESSION, `s${++n}`, destination, 'auto', {});
}

/** A tiny deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('the index finds exactly the subscriptions whose pattern matches (random cases)', async (t) => {
  const r = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const patSegs = ['a', 'b', 'ab', '*', '**', 'a*', '*b', '{id}', ''];
  const destSegs = ['a', 'b', 'ab', 'ba', ''];
  const index = new TopicIndex();
  const all: Array<{ s: Subscription; p: CompiledPattern | null }> = [];
  for (let i = 0; i < 300; i++) {
    const depth = 1 + Math.floor(r() * 4);
    const src = (r() < 0.9 ? '/' : '') + Array.from({ length: depth }, () => pick(patSegs)).join('/');
    const p = src.includes('*') || src.includes('{') ? compilePattern(src) : null;
    const s = sub(src);
    index.add(s, p);
    all.push({ s, p });
  }
  // Remove some, so pruning is exercised too.
  for (let i = 0; i < all.length; i += 5) index.remove(all[i]!.s);
  const live = all.filter((_, i) => i % 5 !== 0);
  let checked = 0;
  for (let i = 0; i < 2000; i++) {
    const depth = Math.floor(r() * 5);
    const d = (r() < 0.9 ? '/' : '') + Array.from({ length: depth }, () => pick(destSegs)).join('/');
    const expected = new Set(live.filter(({ s, p }) => (p ? p.match(d) !== null : s.destination === d)).map(({ s }) => s));
    const got = index.match(d);
    if (got.length !== expected.size || !got.every((s) => expected.has(s))) {
      t.fail(`${d}: expected ${[...expected].map((s) => s.destination).join(' ')}, got ${got.map((s) => s.destination).join(' ')}`);
      return;
    }
    checked++;
  }
  t.equal(checked, 2000, 'every case agrees');
});

t.test('a publish runs only the patterns under its literal head, each distinct pattern once', async (t) => {
  let calls = 0;
  const counted = (src: string): CompiledPattern => {
    const p = compilePattern(src);
    return { source: p.source, literal: p.literal, match: (d) => (calls++, p.match(d)) };
  };
  const index = new TopicIndex();
  for (let i = 0; i < 1000; i++) index.add(sub(`/topic/x${i}/*`), counted(`/topic/x${i}/*`));
  const shared = counted('/topic/prices.*');
  const sharers = Array.from({ length: 1000 }, () => sub('/topic/prices.*'));
  for (const s of sharers) index.add(s, shared);
  t.equal(index.patterns, 1001, 'distinct patterns');
  calls = 0;
  t.equal(index.match('/topic/y/z').length, 0);
  t.equal(calls, 1, 'of the patterns, only /topic/prices.* (head /topic) runs for /topic/y/z');
  calls = 0;
  t.equal(index.match('/topic/prices.eur').length, 1000, 'every sharer gets it');
  t.equal(calls, 1, 'the shared pattern ran once');
  for (const s of sharers) index.remove(s);
  t.equal(index.patterns, 1000, 'gone with its last sharer');
});

t.test('past maxPatterns a new distinct pattern is refused, leaving nothing behind; a held one is shared', async (t) => {
  const index = new TopicIndex(2);
  const a = sub('/topic/a/*');
  index.add(a, compilePattern('/topic/a/*'));
  index.add(sub('/topic/b/**'), compilePattern('/topic/b/**'));
  let code: string | undefined;
  try {
    index.add(sub('/topic/c/d/*'), compilePattern('/topic/c/d/*'));
  } catch (err) {
    code = err instanceof StompError ? err.code : String(err);
  }
  t.equal(code, ErrorCode.TOO_MANY_SUBSCRIPTIONS);
  t.equal(index.patterns, 2);
  index.add(sub('/topic/a/*'), compilePattern('/topic/a/*'));
  t.equal(index.match('/topic/a/1').length, 2, 'shared');
  t.equal(index.match('/topic/c/d/1').length, 0, 'the refused one is not there');
  index.remove(a);
  t.equal(index.patterns, 2, 'still held by its other subscription');
});

/**
 * Ant-style patterns (src/broker/pattern.ts): Spring's semantics, checked
 * against a table and against the straightforward RegExp translation on
 * thousands of random small cases; matching linear in the destination
 * whatever the pattern; limits on client patterns with coded errors.
 */
import t from 'tap';
import { compilePattern, isPattern } from '../../src/broker/pattern.js';
import { isSpringSessionForm } from '../../src/broker/destinations.js';
import { ErrorCode, StompError } from '../../src/errors.js';

const LIMITS = { maxLength: 1024, maxWildcards: 16 };

t.test('table: Spring AntPathMatcher semantics', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['/topic/a', '/topic/a', true],
    ['/topic/a', '/topic/b', false],
    ['/topic/*', '/topic/a', true],
    ['/topic/*', '/topic/', true],
    ['/topic/*', '/topic/a/b', false],
    ['/topic/a*', '/topic/abc', true],
    ['/topic/a*c', '/topic/abc', true],
    ['/topic/a*c', '/topic/ac', true],
    ['/topic/a*c', '/topic/abd', false],
    ['/topic/*.b', '/topic/a.b', true],
    ['/topic/**', '/topic', true],
    ['/topic/**', '/topic/a', true],
    ['/topic/**', '/topic/a/b/c', true],
    ['/topic/**', '/topicx', false],
    ['/topic/**/x', '/topic/x', true],
    ['/topic/**/x', '/topic/a/b/x', true],
    ['/topic/**/x', '/topic/a/b/y', false],
    ['/**/x/**/y', '/a/x/b/c/y', true],
    ['/**/x/**/y', '/a/y/b/c/x', false],
    ['/topic/**x', '/topic/abx', true],
    ['/topic/**x', '/topic/a/x', false],
    ['/topic/****x', '/topic/aaaax', true],
    ['/topic/{id}', '/topic/42', true],
    ['/topic/{id}', '/topic/', false],
    ['/topic/{id}/x', '/topic/42/x', true],
  ];
  for (const [p, d, want] of cases) t.equal(compilePattern(p).match(d) !== null, want, `${p} ${want ? 'matches' : 'does not match'} ${d}`);
});

t.test('captures: {name} takes one segment (or its part), decoded', async (t) => {
  t.same(compilePattern('/greet/{lang}').match('/greet/fr'), { lang: 'fr' });
  t.same(compilePattern('/room/{id}/user/{name}').match('/room/7/user/a%20b'), { id: '7', name: 'a b' });
  t.same(compilePattern('/file/{name}.txt').match('/file/notes.txt'), { name: 'notes' });
  t.same(compilePattern('/x/{a}-{b}').match('/x/1-2'), { a: '1', b: '2' });
  t.same(compilePattern('/**/{last}').match('/a/b/c'), { last: 'c' });
  t.same(compilePattern('/bad/{v}').match('/bad/%zz'), { v: '%zz' }, 'undecodable text is kept as it is');
});

/** The RegExp translation the matcher replaced (backtracking), as the reference on small inputs. */
function reference(source: string): RegExp {
  let re = '^';
  for (let i = 0; i < source.length; ) {
    if (source.startsWith('/**', i) && (i + 3 === source.length || source[i + 3] === '/')) {
      re += '(?:/.*)?';
      i += 3;
    } else if (source[i] === '*') {
      re += '[^/]*';
      i++;
    } else if (source[i] === '{') {
      const end = source.indexOf('}', i);
      re += '([^/]+)';
      i = end + 1;
    } else {
      re += source[i]!.replace(/[.+?^$()[\]\\|]/g, '\\$&');
      i++;
    }
  }
  return new RegExp(re + '$');
}

t.test('random small cases agree with the RegExp translation', async (t) => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const patternParts = ['a', 'b', '*', '**', '{v}', 'ab', ''];
  const destParts = ['a', 'b', 'ab', 'ba', 'aa', ''];
  let checked = 0;
  let matched = 0;
  for (let i = 0; i < 30_000; i++) {
    const segs = 1 + rnd(4);
    let p = '';
    for (let k = 0; k < segs; k++) p += '/' + (rnd(3) === 0 ? pick(patternParts) + pick(patternParts) : pick(patternParts));
    let d = '';
    const dsegs = 1 + rnd(5);
    for (let k = 0; k < dsegs; k++) d += '/' + pick(destParts) + pick(destParts);
    if (!isPattern(p)) continue;
    const want = reference(p).test(d);
    const got = compilePattern(p).match(d) !== null;
    if (got !== want) {
      t.fail(`${p} vs ${d}: got ${got}, RegExp says ${want}`);
      return;
    }
    checked++;
    if (want) matched++;
  }
  t.ok(checked > 10_000 && matched > 1000, `${checked} cases agree (${matched} matches)`);
});

function msFor(fn: () => unknown, runs = 5): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return best;
}

t.test('linear whatever the pattern: the shapes that made the RegExp backtrack', async (t) => {
  const shapes: Array<[string, string]> = [
    ['/topic/****x', '/topic/' + 'a'.repeat(10_000)],
    ['/topic/*****x', '/topic/' + 'a'.repeat(10_000)],
    ['/topic/**/**/**/**/x', '/topic' + '/a'.repeat(5_000)],
    ['/topic/*a*a*a*a*a*a*a*a*b', '/topic/' + 'a'.repeat(10_000)],
    ['/**/a/a/a/a/a/a/b/**/c', '/topic' + '/a'.repeat(5_000) + '/c'],
    ['/topic/*/*/*/*/*/*/*/x', '/topic' + '/a'.repeat(5_000)],
    ['/topic/{a}{b}{c}{d}{e}x', '/topic/' + 'a'.repeat(10_000)],
  ];
  for (const [p, d] of shapes) {
    const m = compilePattern(p, LIMITS);
    const ms = msFor(() => m.match(d));
    t.ok(ms < 10, `${p} against ${d.length} characters: ${ms.toFixed(3)} ms (< 10 ms)`);
  }
});

t.test('client patterns: limits and malformed patterns are coded errors', async (t) => {
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (err) {
      return err instanceof StompError ? err.code : `not a StompError: ${String(err)}`;
    }
    return undefined;
  };
  t.equal(code(() => compilePattern('/topic/' + 'a'.repeat(1100) + '*', LIMITS)), ErrorCode.PATTERN_TOO_COMPLEX, 'too long');
  t.equal(code(() => compilePattern('/topic/' + '*x'.repeat(17), LIMITS)), ErrorCode.PATTERN_TOO_COMPLEX, '17 wildcards');
  t.equal(code(() => compilePattern('/topic/' + '*x'.repeat(16), LIMITS)), undefined, '16 wildcards are fine');
  t.equal(code(() => compilePattern('/topic/{', LIMITS)), ErrorCode.INVALID_DESTINATION, 'unclosed {');
  t.equal(code(() => compilePattern('/topic/{}', LIMITS)), ErrorCode.INVALID_DESTINATION, 'empty {}');
  t.equal(code(() => compilePattern('/topic/a}*', LIMITS)), ErrorCode.INVALID_DESTINATION, 'unmatched }');
  t.equal(code(() => compilePattern('/' + 'a'.repeat(5000))), undefined, 'a literal is never limited here (the header line limit bounds it)');
});

t.test("Spring's -user<sessionId> form is recognised in one pass", async (t) => {
  const cases: Array<[string, boolean]> = [
    ['/queue/x-user1a2b', true],
    ['/queue/x-userabc1', true],
    ['/queue/x-user', false],
    ['/queue/x-userabc', false],
    ['/topic/chat-user2', true],
    ['/queue/a-user1/b', false],
    ['/queue/x-user1.b', false],
    ['/queue/x-user-user-user', false],
    ['/queue/x-user-user-user9', true],
  ];
  for (const [d, want] of cases) t.equal(isSpringSessionForm(d), want, `${d}: ${want}`);
  const hostile = '/queue/' + '-user'.repeat(1600);
  const ms = msFor(() => isSpringSessionForm(hostile));
  const plain = msFor(() => isSpringSessionForm('/queue/' + 'a'.repeat(8000)));
  t.ok(ms < 2, `8 KB of "-user" repeats: ${ms.toFixed(3)} ms (plain 8 KB: ${plain.toFixed(3)} ms)`);
});

/**
 * Ant-style destination patterns, as Spring's AntPathMatcher reads them for
 * subscriptions and @MessageMapping: segments are split on "/"; a segment
 * `**` matches any number of segments (none included, so `/topic/**` also
 * matches `/topic`); inside a segment `*` matches any characters and
 * `{name}` captures one or more (decoded as a URI component).
 *
 * Subscription patterns come from clients, so matching must cost time
 * linear in the destination whatever the pattern (a backtracking RegExp
 * costs n^k on `/topic/****x`). The matcher never backtracks:
 *  - within a segment, the literal pieces between wildcards are placed
 *    leftmost, one after the other (each wildcard is unbounded, so the
 *    leftmost place of a piece never rules out a match the later one allows);
 *  - across segments, the runs of segment patterns between `**`s are placed
 *    leftmost the same way (a run is a fixed number of segments).
 * Work per match is O(destination length × pattern size), and the pattern
 * size is bounded by `PatternLimits` for client input.
 */
import { ErrorCode, StompError } from '../errors.js';

export interface CompiledPattern {
  readonly source: string;
  readonly literal: boolean;
  /** The `{name}` captures when `destination` matches, else null. */
  match(destination: string): Record<string, string> | null;
}

/** Bounds for patterns a client supplies (SUBSCRIBE destinations). */
export interface PatternLimits {
  /** Characters of the whole pattern. */
  maxLength: number;
  /** Wildcards: each `*`, each `{name}` and each `**` segment. */
  maxWildcards: number;
}

/** One segment with wildcards: literal pieces around `gaps.length` wildcards. */
interface Glob {
  /** gaps.length + 1 literal pieces (possibly empty). */
  readonly pieces: readonly string[];
  /** Per wildcard: null for `*` (0 or more chars), the capture name for `{name}` (1 or more). */
  readonly gaps: ReadonlyArray<string | null>;
  /** Least length a segment must have. */
  readonly minLength: number;
}

/** A segment of a pattern: a literal, a glob, or `**` (any number of segments). */
type Segment = string | Glob | typeof ANY_DEPTH;

const ANY_DEPTH = Symbol('**');

export function isPattern(s: string): boolean {
  return s.includes('*') || s.includes('{');
}

/** Is this pattern segment a wildcard one (`**`, or with `*`, `{` or `}`)? Anything else matches itself only. */
function isWildSegment(seg: string): boolean {
  return seg.includes('*') || seg.includes('{') || seg.includes('}');
}

/**
 * The segments a pattern starts with that match only themselves: every
 * destination it matches starts with exactly these segments (the first run of
 * segments is anchored at the start). `/topic/a/*` -> ['', 'topic', 'a'].
 */
export function literalHead(source: string): string[] {
  const head: string[] = [];
  for (const seg of source.split('/')) {
    if (isWildSegment(seg)) break;
    head.push(seg);
  }
  return head;
}

function invalid(source: string, why: string): StompError {
  return new StompError(ErrorCode.INVALID_DESTINATION, `${why}: ${source}`);
}

/** Parse one segment that holds `*` or `{`; `count` receives the wildcards found. */
function parseGlob(source: string, seg: string, count: { n: number }): Glob {
  const pieces: string[] = [];
  const gaps: Array<string | null> = [];
  let piece = '';
  let min = 0;
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') {
      pieces.push(piece);
      piece = '';
      gaps.push(null);
      count.n++;
      while (seg[i + 1] === '*') i++; // `**` inside a segment is `*`
    } else if (c === '{') {
      const end = seg.indexOf('}', i + 1);
      if (end < 0) throw invalid(source, 'unclosed "{" in pattern');
      const name = seg.slice(i + 1, end);
      if (name.length === 0) throw invalid(source, 'empty "{}" in pattern');
      pieces.push(piece);
      piece = '';
      gaps.push(name);
      min++;
      count.n++;
      i = end;
    } else if (c === '}') {
      throw invalid(source, 'unmatched "}" in pattern');
    } else {
      piece += c;
      min++;
    }
  }
  pieces.push(piece);
  return { pieces, gaps, minLength: min };
}

/** Match one segment against a glob, recording captures in `params` (null: just test). */
function matchGlob(g: Glob, s: string, params: Record<string, string> | null): boolean {
  if (s.length < g.minLength) return false;
  const { pieces, gaps } = g;
  const first = pieces[0]!;
  const last = pieces[pieces.length - 1]!;
  if (!s.startsWith(first) || !s.endsWith(last)) return false;
  const end = s.length - last.length; // the last wildcard ends here
  let pos = first.length;
  const k = gaps.length;
  // starts[i]: where wildcard i's text begins; wildcard i ends where piece i+1 begins.
  const bounds: number[] | null = params ? [] : null;
  for (let i = 0; i < k; i++) {
    const from = pos + (gaps[i] === null ? 0 : 1);
    let at: number;
    if (i === k - 1) {
      at = end;
      if (at < from) return false;
    } else {
      const p = pieces[i + 1]!;
      at = s.indexOf(p, from);
      if (at < 0 || at + p.length > end) return false;
    }
    bounds?.push(pos, at);
    pos = at + pieces[i + 1]!.length;
  }
  if (params && bounds) {
    for (let i = 0; i < k; i++) {
      const name = gaps[i];
      if (name !== null && name !== undefined) params[name] = decodeURIComponentSafe(s.slice(bounds[2 * i]!, bounds[2 * i + 1]!));
    }
  }
  return true;
}

function matchSegment(p: string | Glob, s: string, params: Record<string, string> | null): boolean {
  return typeof p === 'string' ? p === s : matchGlob(p, s, params);
}

/** Does the run of segment patterns `run` match `segs` starting at `at`? */
function matchRun(run: ReadonlyArray<string | Glob>, segs: readonly string[], at: number, params: Record<string, string> | null): boolean {
  for (let i = 0; i < run.length; i++) if (!matchSegment(run[i]!, segs[at + i]!, params)) return false;
  return true;
}

/**
 * Compile `source`. With `limits` (client input) a pattern over them is refused
 * with STOMP_ERR_PATTERN_TOO_COMPLEX; a malformed one (unclosed `{`) always
 * with STOMP_ERR_INVALID_DESTINATION.
 */
export function compilePattern(source: string, limits?: PatternLimits): CompiledPattern {
  if (!isPattern(source)) return { source, literal: true, match: (d) => (d === source ? {} : null) };
  if (limits && source.length > limits.maxLength)
    throw new StompError(ErrorCode.PATTERN_TOO_COMPLEX, `pattern longer than ${limits.maxLength} characters`);
  const count = { n: 0 };
  const segments: Segment[] = [];
  for (const seg of source.split('/')) {
    if (seg === '**') {
      count.n++;
      if (segments[segments.length - 1] !== ANY_DEPTH) segments.push(ANY_DEPTH); // `**/**` is `**`
    } else if (isWildSegment(seg)) {
      segments.push(parseGlob(source, seg, count));
    } else {
      segments.push(seg);
    }
  }
  if (limits && count.n > limits.maxWildcards)
    throw new StompError(ErrorCode.PATTERN_TOO_COMPLEX, `pattern with more than ${limits.maxWildcards} wildcards`);
  // Runs of single-segment patterns between `**`s.
  const runs: Array<Array<string | Glob>> = [[]];
  for (const s of segments) {
    if (s === ANY_DEPTH) runs.push([]);
    else runs[runs.length - 1]!.push(s);
  }
  const deep = runs.length > 1;
  const head = runs[0]!;
  const tail = runs[runs.length - 1]!;
  const middle = runs.slice(1, -1);
  const minSegments = runs.reduce((n, r) => n + r.length, 0);
  const hasCaptures = segments.some((s) => typeof s === 'object' && s.gaps.some((g) => g !== null));

  const test = (segs: readonly string[], params: Record<string, string> | null): boolean => {
    if (!deep) return segs.length === head.length && matchRun(head, segs, 0, params);
    if (segs.length < minSegments) return false;
    const tailAt = segs.length - tail.length;
    if (!matchRun(head, segs, 0, params) || !matchRun(tail, segs, tailAt, params)) return false;
    let pos = head.length;
    for (const run of middle) {
      let at = pos;
      while (at + run.length <= tailAt && !matchRun(run, segs, at, null)) at++;
      if (at + run.length > tailAt) return false;
      if (params) matchRun(run, segs, at, params); // record its captures
      pos = at + run.length;
    }
    return true;
  };

  return {
    source,
    literal: false,
    match(destination: string) {
      const segs = destination.split('/');
      if (!hasCaptures) return test(segs, null) ? {} : null;
      const params: Record<string, string> = {};
      return test(segs, params) ? params : null;
    },
  };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

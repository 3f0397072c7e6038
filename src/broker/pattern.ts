/**
 * Ant-style destination patterns, as Spring's AntPathMatcher uses them for
 * subscriptions and @MessageMapping: `*` matches within one segment, `**`
 * any number of segments, `{name}` captures one segment. Segments are split
 * on "/" (and on "." inside a segment, for destinations like /topic/a.b).
 */

export interface CompiledPattern {
  readonly source: string;
  readonly literal: boolean;
  match(destination: string): Record<string, string> | null;
}

const SPECIAL = /[*{]/;

function escapeRe(s: string): string {
  return s.replace(/[.+?^$()[\]\\|]/g, '\\$&');
}

export function isPattern(s: string): boolean {
  return SPECIAL.test(s);
}

export function compilePattern(source: string): CompiledPattern {
  if (!isPattern(source)) {
    return { source, literal: true, match: (d) => (d === source ? {} : null) };
  }
  const names: string[] = [];
  let re = '^';
  let i = 0;
  while (i < source.length) {
    if (source.startsWith('/**', i) && (i + 3 === source.length || source[i + 3] === '/')) {
      re += '(?:/.*)?';
      i += 3;
      continue;
    }
    const c = source[i]!;
    if (c === '*') {
      re += '[^/]*';
      i++;
    } else if (c === '{') {
      const end = source.indexOf('}', i);
      if (end < 0) throw new Error(`Unclosed { in pattern "${source}"`);
      names.push(source.slice(i + 1, end));
      re += '([^/]+)';
      i = end + 1;
    } else {
      re += escapeRe(c);
      i++;
    }
  }
  re += '$';
  const rx = new RegExp(re);
  return {
    source,
    literal: false,
    match(d: string) {
      const m = rx.exec(d);
      if (!m) return null;
      const params: Record<string, string> = {};
      names.forEach((n, k) => {
        params[n] = decodeURIComponentSafe(m[k + 1] ?? '');
      });
      return params;
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

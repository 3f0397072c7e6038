import t from 'tap';
import { escapeHeader, unescapeHeader } from '../../src/stomp/escape.js';
import { ErrorCode } from '../../src/errors.js';
import type { StompVersion } from '../../src/stomp/frame.js';

// [version, decoded, encoded]
const ROUND_TRIPS: [StompVersion, string, string][] = [
  ['1.2', 'plain', 'plain'],
  ['1.2', '', ''],
  ['1.2', 'a:b', 'a\\cb'],
  ['1.2', 'l1\nl2', 'l1\\nl2'],
  ['1.2', 'cr\r', 'cr\\r'],
  ['1.2', 'back\\slash', 'back\\\\slash'],
  ['1.2', '\\n', '\\\\n'], // a literal backslash-n: one pass, no double decoding
  ['1.2', '\\c:\\', '\\\\c\\c\\\\'],
  ['1.2', ':\r\n\\', '\\c\\r\\n\\\\'],
  ['1.2', 'ünï:😀', 'ünï\\c😀'],
  ['1.1', 'a:b\nc\\', 'a\\cb\\nc\\\\'],
  ['1.1', 'raw\rcr', 'raw\rcr'], // STOMP 1.1 has no \r escape: written raw
  ['1.0', 'a:b\nc\\d', 'a:b\nc\\d'], // STOMP 1.0: no escaping
];

t.test('escape and unescape round trip per version', async (t) => {
  for (const [v, decoded, encoded] of ROUND_TRIPS) {
    t.equal(escapeHeader(decoded, v), encoded, `escape ${v} ${JSON.stringify(decoded)}`);
    t.equal(unescapeHeader(encoded, v), decoded, `unescape ${v} ${JSON.stringify(encoded)}`);
  }
});

t.test('1.0 takes backslashes verbatim', async (t) => {
  t.equal(unescapeHeader('a\\tb\\', '1.0'), 'a\\tb\\');
});

t.test('fast path returns the same string', async (t) => {
  const s = 'no-specials-here';
  t.equal(unescapeHeader(s, '1.2'), s);
  t.equal(escapeHeader(s, '1.2'), s);
  t.equal(escapeHeader(s, '1.1'), s);
});

// [version, encoded] that must be rejected
const INVALID: [StompVersion, string][] = [
  ['1.2', 'a\\tb'],
  ['1.2', 'trailing\\'],
  ['1.2', '\\'],
  ['1.2', 'ok\\cthen\\x'],
  ['1.2', '\\C'],
  ['1.2', '\\N'],
  ['1.1', 'a\\rb'], // STOMP 1.1 has no \r escape
  ['1.1', '\\t'],
  ['1.1', 'x\\'],
];

t.test('invalid escapes are INVALID_ESCAPE', async (t) => {
  for (const [v, s] of INVALID) {
    t.throws(
      () => unescapeHeader(s, v),
      { name: 'StompError', code: ErrorCode.INVALID_ESCAPE },
      `${v} ${JSON.stringify(s)}`,
    );
  }
});

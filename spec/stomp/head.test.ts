/** Head parsing on strings and decoded windows (src/stomp/head.ts), without a parser around it. */

import t from 'tap';
import { findHeadEnd, headInWindow, parseHead, parseLength, type ParsedHead } from '../../src/stomp/head.js';
import { DEFAULT_PARSER_LIMITS, parserLimits, type ParserLimits } from '../../src/stomp/limits.js';
import { ErrorCode, StompError } from '../../src/errors.js';
import type { StompVersion } from '../../src/stomp/frame.js';

const NOTHING = Object.freeze(Object.create(null) as Record<string, string>);

function fresh(): ParsedHead {
  return { command: 'ACK', headers: NOTHING };
}

/** parseHead() into a fresh ParsedHead: [head length, command, headers]. */
function parse(s: string, version: StompVersion = '1.2', limits: Readonly<ParserLimits> | null = DEFAULT_PARSER_LIMITS) {
  const out = fresh();
  const end = parseHead(s, version, limits, out);
  return { end, command: out.command, headers: { ...out.headers }, untouched: out.headers === NOTHING };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof StompError ? err.code : 'not a StompError';
  }
  return undefined;
}

t.test('parseHead: command, headers and the length through the blank line', async (t) => {
  const head = 'SEND\ndestination:/queue/a\ncontent-type:text/plain\n\n';
  const r = parse(head + 'body\0');
  t.equal(r.end, head.length, 'the body is not part of the head');
  t.equal(r.command, 'SEND');
  t.same(r.headers, { destination: '/queue/a', 'content-type': 'text/plain' });
  t.same(parse('DISCONNECT\n\n'), { end: 12, command: 'DISCONNECT', headers: {}, untouched: false }, 'no headers');
});

t.test('parseHead: STOMP 1.2 EOLs are LF or CRLF, values are verbatim, the first of a repeated header wins', async (t) => {
  const r = parse('MESSAGE\r\nid: 1 \r\nid:2\r\nempty:\r\nk:a:b\r\n\r\n');
  t.equal(r.end, 'MESSAGE\r\nid: 1 \r\nid:2\r\nempty:\r\nk:a:b\r\n\r\n'.length);
  t.equal(r.command, 'MESSAGE');
  t.same(r.headers, { id: ' 1 ', empty: '', k: 'a:b' }, 'no trimming; the value runs to the EOL');
  t.equal(parse('SEND\nx:1\r\n\n').end, 'SEND\nx:1\r\n\n'.length, 'LF and CRLF mixed');
});

t.test('parseHead: escapes decoded per version, never in CONNECT, STOMP or CONNECTED', async (t) => {
  const head = 'SEND\na\\cb:c\\nd\\\\\n\n';
  t.same(parse(head, '1.2').headers, { 'a:b': 'c\nd\\' });
  t.same(parse(head, '1.1').headers, { 'a:b': 'c\nd\\' });
  t.same(parse(head, '1.0').headers, { 'a\\cb': 'c\\nd\\\\' }, '1.0: verbatim');
  for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
    t.same(parse(`${command}\npasscode:a\\cb\n\n`, '1.2').headers, { passcode: 'a\\cb' }, command);
  }
  t.equal(codeOf(() => parse('SEND\nx:a\\tb\n\n', '1.2')), ErrorCode.INVALID_ESCAPE, 'an undefined escape');
  t.equal(codeOf(() => parse('SEND\nx:a\\rb\n\n', '1.1')), ErrorCode.INVALID_ESCAPE, '\\r is 1.2 only');
});

t.test('parseHead: invalid heads throw a StompError and leave the result untouched', async (t) => {
  const cases: [string, ErrorCode][] = [
    ['NOPE\n\n', ErrorCode.UNKNOWN_COMMAND],
    ['send\n\n', ErrorCode.UNKNOWN_COMMAND],
    [' SEND\n\n', ErrorCode.UNKNOWN_COMMAND],
    ['\n\n', ErrorCode.UNKNOWN_COMMAND],
    ['SEND\nno-colon\n\n', ErrorCode.MALFORMED_HEADER],
    ['SEND\n:empty-name\n\n', ErrorCode.MALFORMED_HEADER],
    ['SEND\nx:1\nno-colon-before-the-next-line\nz:2\n\n', ErrorCode.MALFORMED_HEADER],
  ];
  for (const [s, code] of cases) {
    const out = fresh();
    t.equal(codeOf(() => parseHead(s, '1.2', null, out)), code, JSON.stringify(s));
    t.equal(out.headers, NOTHING, `${JSON.stringify(s)}: untouched`);
    t.equal(out.command, 'ACK');
  }
});

t.test('parseHead: -1 for an incomplete head, or one over a limit when limits are given', async (t) => {
  for (const s of ['', 'SEND', 'SEND\n', 'SEND\nx:1\n', 'SEND\nx:1\r\n']) {
    const r = parse(s);
    t.equal(r.end, -1, JSON.stringify(s));
    t.ok(r.untouched);
  }
  const limits = parserLimits({ maxCommandBytes: 4, maxHeaderLineBytes: 5, maxHeaders: 2, maxFrameBytes: 20 });
  t.equal(parse('SEND\r\nab:cd\r\n\r\n', '1.2', limits).end, 15, 'exactly at the limits (CRs not counted)');
  t.equal(parse('ABORT\n\n', '1.2', limits).end, -1, 'command over maxCommandBytes');
  t.equal(parse('SEND\nab:cde\n\n', '1.2', limits).end, -1, 'header line over maxHeaderLineBytes');
  t.equal(parse('SEND\na:1\nb:2\nc:3\n\n', '1.2', limits).end, -1, 'more than maxHeaders');
  t.equal(parse('SEND\na:1\nb:2\nc:3\n\n', '1.2', null).end, 18, 'without limits the same head parses');
  t.equal(parse('SEND\r\na:123\r\nb:123\r\n\r\n', '1.2', limits).end, -1, 'head over maxFrameBytes (CRs count)');
  t.equal(parse('NOPE12\n\n', '1.2', limits).end, -1, 'over a limit is -1 before the command is looked at');
});

t.test('findHeadEnd: the end of a complete head within the limits, else -1', async (t) => {
  const L = DEFAULT_PARSER_LIMITS;
  t.equal(findHeadEnd('SEND\nx:1\n\nbody', L), 10);
  t.equal(findHeadEnd('SEND\r\nx:1\r\n\r\nbody', L), 13);
  t.equal(findHeadEnd('NOPE\nnot a header\n\n', L), 19, 'does not validate: parseHead does');
  t.equal(findHeadEnd('SEND\nx:1\n', L), -1, 'no blank line yet');
  t.equal(findHeadEnd('SEND', L), -1);
  const limits = parserLimits({ maxCommandBytes: 4, maxHeaderLineBytes: 3, maxHeaders: 1, maxFrameBytes: 10 });
  t.equal(findHeadEnd('SEND\nx:1\n\n', limits), 10, 'exactly at the limits');
  t.equal(findHeadEnd('SENDX\n\n', limits), -1);
  t.equal(findHeadEnd('SEND\nx:12\n\n', limits), -1);
  t.equal(findHeadEnd('SEND\nx:1\ny:2\n\n', limits), -1);
  t.equal(findHeadEnd('SEND\r\nx:1\n\n', limits), -1, 'over maxFrameBytes by its CR');
});

t.test('parseLength: STOMP 1.2 content-length is a non-negative decimal integer', async (t) => {
  const cases: [string, number][] = [
    ['0', 0],
    ['00', 0],
    ['007', 7],
    ['1048576', 1048576],
    ['999999999999999', 999999999999999],
    ['1000000000000000', Infinity], // 16 digits: too large for any frame, still a valid number
    ['', -1],
    ['-1', -1],
    ['+1', -1],
    [' 1', -1],
    ['1 ', -1],
    ['1.0', -1],
    ['1e3', -1],
    ['0x10', -1],
    ['١', -1], // a non-ASCII digit
    ['1234567890123456x', -1],
  ];
  for (const [s, n] of cases) t.equal(parseLength(s), n, JSON.stringify(s));
});

t.test('headInWindow: the fast path agrees with parseHead, and counts bytes', async (t) => {
  const L = DEFAULT_PARSER_LIMITS;
  const window = (s: string, base = 0) => {
    const out = fresh();
    const buf = Buffer.concat([Buffer.alloc(base, 'z'), Buffer.from(s)]);
    return { end: headInWindow(buf, base, '1.2', L, out), command: out.command, headers: { ...out.headers } };
  };
  const head = 'MESSAGE\ndestination:/topic/a\nid:7\n\n';
  t.same(window(head + 'body\0', 3), { end: head.length, command: 'MESSAGE', headers: { destination: '/topic/a', id: '7' } }, 'from an offset');

  const utf8 = 'SEND\ndestination:/queue/ünï😀\nx:é\n\n';
  const r = window(utf8 + 'body\0');
  t.equal(r.end, Buffer.byteLength(utf8), 'a head with multi-byte characters: its length in bytes');
  t.same(r.headers, { destination: '/queue/ünï😀', x: 'é' }, 'decoded as UTF-8');

  const long = `SEND\nx:${'a'.repeat(1000)}\n\n`;
  t.equal(window(long + '\0').end, long.length, 'past the first 512 bytes: found in the 4 KiB window');
  t.equal(window(`SEND\nx:${'a'.repeat(5000)}\n\n\0`).end, -1, 'past 4 KiB: left to the byte scanner');
  t.equal(window('SEND\nx:1\n').end, -1, 'incomplete');

  const limited = parserLimits({ maxHeaderLineBytes: 8 });
  const out = fresh();
  t.equal(headInWindow(Buffer.from('SEND\nx:ééé\n\n'), 0, '1.2', limited, out), 15, '8 bytes of line: within the limit');
  t.equal(headInWindow(Buffer.from('SEND\nx:éééé\n\n'), 0, '1.2', limited, out), -1, '10 bytes of line, 6 characters: over it');
});

t.test('headInWindow: an invalid head throws only once it is complete and within the limits', async (t) => {
  const L = DEFAULT_PARSER_LIMITS;
  const run = (s: string, limits = L) => codeOf(() => headInWindow(Buffer.from(s), 0, '1.2', limits, fresh()));
  t.equal(run('NOPE\nx:1\n\n'), ErrorCode.UNKNOWN_COMMAND);
  t.equal(run('SEND\nbad\n\n'), ErrorCode.MALFORMED_HEADER);
  t.equal(run('SEND\nbäd\n\n'), ErrorCode.MALFORMED_HEADER, 'a non-ASCII window takes the exact route');
  t.equal(run('SEND\nx:\\t\n\n'), ErrorCode.INVALID_ESCAPE);
  t.equal(run('NOPE\nx:1\n'), undefined, 'incomplete: -1, no throw');
  t.equal(run('NOPE\nbad\n\n', parserLimits({ maxHeaderLineBytes: 2 })), undefined, 'over a limit: -1, no throw');
});

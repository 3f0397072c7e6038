import t from 'tap';
import {
  encodeFrame,
  encodeFrameParts,
  HEARTBEAT_EOL,
  INLINE_BODY_BYTES,
  NULL_BYTE,
} from '../../src/stomp/encoder.js';
import { ErrorCode } from '../../src/errors.js';
import type { Headers, OutFrame } from '../../src/stomp/frame.js';
import { run } from './fixtures/codec.js';

const str = (b: Buffer): string => b.toString('latin1');
const isCode = (code: ErrorCode) => ({ name: 'StompError', code });

t.test('constants', async (t) => {
  t.equal(str(HEARTBEAT_EOL), '\n');
  t.equal(str(NULL_BYTE), '\0');
});

t.test('content-length', async (t) => {
  t.equal(str(encodeFrame({ command: 'MESSAGE', headers: { a: '1' }, body: 'hé' })), 'MESSAGE\na:1\ncontent-length:3\n\nhé\0'.replace('é', '\xc3\xa9'), 'appended, counts UTF-8 bytes');
  t.equal(str(encodeFrame({ command: 'SEND', headers: { a: '1' } })), 'SEND\na:1\n\n\0', 'absent body: none');
  t.equal(str(encodeFrame({ command: 'SEND', headers: {}, body: '' })), 'SEND\n\n\0', 'empty string body: none');
  t.equal(str(encodeFrame({ command: 'SEND', headers: {}, body: Buffer.alloc(0) })), 'SEND\n\n\0', 'empty Buffer body: none');
  t.equal(
    str(encodeFrame({ command: 'SEND', headers: { 'content-length': '99', x: 'y' }, body: 'ab' })),
    'SEND\ncontent-length:2\nx:y\n\nab\0',
    'a wrong value is corrected in place',
  );
  t.equal(
    str(encodeFrame({ command: 'SEND', headers: { 'content-length': '5' } })),
    'SEND\ncontent-length:0\n\n\0',
    'given with an empty body: 0',
  );
  t.equal(
    str(encodeFrame({ command: 'SEND', headers: { x: 'y' }, body: 'ab' }, '1.2', { contentLength: false })),
    'SEND\nx:y\n\nab\0',
    'contentLength:false writes none',
  );
  t.equal(
    str(encodeFrame({ command: 'SEND', headers: { 'content-length': '7' }, body: 'ab' }, '1.2', { contentLength: false })),
    'SEND\ncontent-length:7\n\nab\0',
    'contentLength:false writes headers as given',
  );
  t.equal(
    str(encodeFrame({ command: 'SEND', headers: {}, body: Buffer.from([0, 1, 0]) })),
    'SEND\ncontent-length:3\n\n\0\x01\0\0',
    'binary body with NULs',
  );
});

t.test('escaping per version and command', async (t) => {
  const headers: Headers = { 'a:b': 'c:d\ne\\f' };
  t.equal(str(encodeFrame({ command: 'MESSAGE', headers })), 'MESSAGE\na\\cb:c\\cd\\ne\\\\f\n\n\0', 'default version is 1.2');
  t.equal(str(encodeFrame({ command: 'MESSAGE', headers: { x: 'a\rb' } }, '1.2')), 'MESSAGE\nx:a\\rb\n\n\0', '1.2 escapes CR');
  t.equal(str(encodeFrame({ command: 'MESSAGE', headers: { x: 'a\rb:' } }, '1.1')), 'MESSAGE\nx:a\rb\\c\n\n\0', '1.1 has no CR escape');
  t.equal(str(encodeFrame({ command: 'MESSAGE', headers: { x: 'a:b\\' } }, '1.0')), 'MESSAGE\nx:a:b\\\n\n\0', '1.0 is verbatim');
  t.equal(
    str(encodeFrame({ command: 'CONNECTED', headers: { version: '1.2', server: 'a:b\\c' } }, '1.2')),
    'CONNECTED\nversion:1.2\nserver:a:b\\c\n\n\0',
    'CONNECTED is never escaped',
  );
  t.equal(
    str(encodeFrame({ command: 'CONNECT', headers: { passcode: 'p:\\w' } }, '1.2')),
    'CONNECT\npasscode:p:\\w\n\n\0',
    'CONNECT is never escaped',
  );
});

t.test('headers that cannot be written are INVALID_HEADER', async (t) => {
  const bad: [OutFrame, '1.0' | '1.2'][] = [
    [{ command: 'CONNECTED', headers: { server: 'a\nb' } }, '1.2'],
    [{ command: 'CONNECT', headers: { passcode: 'a\rb' } }, '1.2'],
    [{ command: 'CONNECT', headers: { 'a:b': 'c' } }, '1.2'],
    [{ command: 'CONNECT', headers: { 'a\nb': 'c' } }, '1.2'],
    [{ command: 'CONNECT', headers: { '': 'c' } }, '1.2'],
    [{ command: 'MESSAGE', headers: { x: 'a\nb' } }, '1.0'],
    [{ command: 'MESSAGE', headers: { '': 'c' } }, '1.2'],
  ];
  for (const [frame, v] of bad) {
    t.throws(() => encodeFrame(frame, v), isCode(ErrorCode.INVALID_HEADER), JSON.stringify(frame.headers));
  }
});

t.test('header order is kept; undefined values are skipped', async (t) => {
  const headers = { z: '1', a: '2', m: undefined as unknown as string, b: '3' };
  t.equal(str(encodeFrame({ command: 'SEND', headers })), 'SEND\nz:1\na:2\nb:3\n\n\0');
  const nullProto = Object.assign(Object.create(null) as Headers, { b: '1', a: '2' });
  t.equal(str(encodeFrame({ command: 'SEND', headers: nullProto })), 'SEND\nb:1\na:2\n\n\0', 'null-prototype headers');
});

t.test('encodeFrameParts', async (t) => {
  const small = Buffer.alloc(INLINE_BODY_BYTES, 'a');
  const [h1, b1] = encodeFrameParts({ command: 'MESSAGE', headers: { s: '1' }, body: small });
  t.equal(b1, null, 'a body up to INLINE_BODY_BYTES is inlined');
  t.same(h1, encodeFrame({ command: 'MESSAGE', headers: { s: '1' }, body: small }), 'head is the whole frame');

  const big = Buffer.alloc(INLINE_BODY_BYTES + 1, 'b');
  const frame: OutFrame = { command: 'MESSAGE', headers: { s: '1' }, body: big };
  const [h2, b2] = encodeFrameParts(frame);
  t.equal(b2, big, 'a large Buffer body is returned as is (no copy)');
  t.equal(str(h2), `MESSAGE\ns:1\ncontent-length:${big.length}\n\n`, 'head ends with the blank line');
  t.same(Buffer.concat([h2, big, NULL_BYTE]), encodeFrame(frame), 'head + body + NULL_BYTE is the frame');

  const bigText = 'é'.repeat(INLINE_BODY_BYTES + 1);
  const [h3, b3] = encodeFrameParts({ command: 'SEND', headers: {}, body: bigText });
  t.ok(b3 !== null && b3.equals(Buffer.from(bigText)), 'a large string body is UTF-8 encoded once');
  t.equal(str(h3), `SEND\ncontent-length:${Buffer.byteLength(bigText)}\n\n`);

  const [h4, b4] = encodeFrameParts({ command: 'SEND', headers: {}, body: 'short' });
  t.equal(b4, null);
  t.equal(str(h4), 'SEND\ncontent-length:5\n\nshort\0');
});

t.test('encodeFrame of a large body parses back', async (t) => {
  const body = Buffer.alloc(256 * 1024);
  for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
  const r = run([encodeFrame({ command: 'MESSAGE', headers: { destination: '/t' }, body })]);
  t.equal(r.error, null);
  t.ok(r.frames[0]?.body.equals(body));
});

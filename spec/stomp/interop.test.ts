/** The codec against @stomp/stompjs 7 (what browsers run): each side reads the other's frames. */

import t from 'tap';
import { FrameImpl, Parser, type IRawFrameType } from '@stomp/stompjs';
import { encodeFrame } from '../../src/stomp/encoder.js';
import type { Command, OutFrame } from '../../src/stomp/frame.js';
import { run } from './fixtures/codec.js';

// stompjs escapes values only (not names) and trims names and values, so the
// values here have no leading/trailing spaces.
const FRAMES: OutFrame[] = [
  { command: 'CONNECT', headers: { 'accept-version': '1.2,1.1,1.0', host: '/', login: 'bob', passcode: 'p:w' } },
  { command: 'CONNECTED', headers: { version: '1.2', 'heart-beat': '10000,10000', 'user-name': 'bob' } },
  { command: 'SUBSCRIBE', headers: { id: 'sub-0', destination: '/user/queue/a:b' } },
  { command: 'SEND', headers: { destination: '/app/chat', 'content-type': 'application/json' }, body: '{"n":"ü"}' },
  { command: 'MESSAGE', headers: { subscription: 'sub-0', 'message-id': 'm\n1', destination: 'a\\b\rc' }, body: Buffer.from([1, 0, 2]) },
  { command: 'ERROR', headers: { message: 'Frame too large' }, body: 'detail' },
];

function stompjsParse(wire: Buffer): IRawFrameType[] {
  const out: IRawFrameType[] = [];
  const p = new Parser(
    (f) => out.push(f),
    () => {},
  );
  p.parseChunk(wire.buffer.slice(wire.byteOffset, wire.byteOffset + wire.length) as ArrayBuffer);
  return out;
}

t.test('stompjs reads what we encode', async (t) => {
  for (const frame of FRAMES) {
    const raw = stompjsParse(encodeFrame(frame, '1.2'));
    t.equal(raw.length, 1, frame.command);
    const got = FrameImpl.fromRawFrame(raw[0] as IRawFrameType, true);
    t.equal(got.command, frame.command);
    for (const [k, v] of Object.entries(frame.headers)) t.equal(got.headers[k], v, `${frame.command} ${k}`);
    const body = frame.body === undefined ? Buffer.alloc(0) : Buffer.from(frame.body);
    t.same(Buffer.from(got.binaryBody), body, `${frame.command} body`);
  }
});

t.test('we read what stompjs encodes', async (t) => {
  for (const frame of FRAMES) {
    const params = { command: frame.command, headers: frame.headers, escapeHeaderValues: true };
    const body = frame.body;
    const serialized = FrameImpl.marshall(
      typeof body === 'string' ? { ...params, body } : body === undefined ? params : { ...params, binaryBody: new Uint8Array(body) },
    );
    const wire = typeof serialized === 'string' ? Buffer.from(serialized) : Buffer.from(serialized);
    const r = run([wire]);
    t.equal(r.error, null, frame.command);
    const got = r.frames[0];
    t.equal(got?.command, frame.command as Command);
    for (const [k, v] of Object.entries(frame.headers)) t.equal(got?.headers[k], v, `${frame.command} ${k}`);
    t.same(got?.body, body === undefined ? Buffer.alloc(0) : Buffer.from(body));
  }
});

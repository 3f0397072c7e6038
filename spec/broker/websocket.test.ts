/**
 * The WebSocket transport: endpoints (/ws and /ws/websocket), subprotocol
 * negotiation, text and binary messages in, one frame per message out,
 * heart-beats as a lone "\n", the origin allow-list, every client mistake
 * ending in an ERROR and a clean close, the message size limit.
 */
import t from 'tap';
import { DEFAULTS } from '../../src/config.js';
import { ErrorCode } from '../../src/errors.js';
import { FrameParser } from '../../src/stomp/parser.js';
import type { Frame } from '../../src/stomp/frame.js';
import { RawClient } from '../helpers/client.js';
import { blockingHandler, startBroker } from '../helpers/broker.js';
import { runClientMistakes } from '../helpers/client-mistakes.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { waitFor } from '../helpers/wait.js';
import { core } from '../helpers/internals.js';

const MiB = 1024 * 1024;

/** Parse one WebSocket message on its own: the frames in it (heart-beats counted apart). */
function framesOf(data: Buffer): { frames: Frame[]; heartbeats: number; leftover: number } {
  const frames: Frame[] = [];
  let heartbeats = 0;
  const p = new FrameParser({
    limits: { maxFrameBytes: 64 * MiB },
    onFrame: (f) => frames.push(f),
    onHeartbeat: (n) => (heartbeats += n),
    onError: (e) => {
      throw e;
    },
  });
  p.push(data);
  return { frames, heartbeats, leftover: p.bufferedBytes };
}

t.test('subprotocols are negotiated like Spring', async (t) => {
  const b = await startBroker(t);
  for (const [offer, want] of [
    [['v12.stomp'], 'v12.stomp'],
    [['v11.stomp'], 'v11.stomp'],
    [['v10.stomp'], 'v10.stomp'],
    [['v10.stomp', 'v11.stomp', 'v12.stomp'], 'v12.stomp'],
    [['v11.stomp', 'v10.stomp'], 'v11.stomp'],
    [[], ''],
  ] as const) {
    const c = await b.client({ protocols: [...offer] });
    t.equal(c.protocol, want, `offered [${offer.join(',')}]`);
    const f = await c.connect({ login: 'p' });
    t.equal(f.command, 'CONNECTED', 'and STOMP works');
  }
});

t.test('endpoints: /ws and /ws/websocket; configured paths; others are 404', async (t) => {
  const b = await startBroker(t, { endpoints: ['/ws', '/stomp'] });
  for (const path of ['/ws', '/ws/websocket', '/stomp', '/stomp/websocket']) {
    const c = await b.client({ path });
    t.equal((await c.connect({ login: 'e' })).command, 'CONNECTED', path);
  }
  const err = await RawClient.ws(`${b.url}/nope`).then(
    () => null,
    (e: { status?: number }) => e,
  );
  t.equal(err?.status, 404, 'an unknown path is not upgraded');
});

t.test('text and binary messages in; several frames per message, or a frame split over messages', async (t) => {
  const b = await startBroker(t);
  const sub = await b.user('sub');
  await sub.subscribe('s', '/topic/in');
  const c = await b.client();
  c.sendText(raw('CONNECT', { 'accept-version': '1.2', host: 'h', login: 'texter' }));
  t.equal((await c.next()).command, 'CONNECTED', 'CONNECT as a text message');
  c.sendText(raw('SEND', { destination: '/topic/in' }, 'as text'));
  c.send(Buffer.from(raw('SEND', { destination: '/topic/in' }, 'as binary')));
  c.send(raw('SEND', { destination: '/topic/in' }, 'two in') + raw('SEND', { destination: '/topic/in' }, 'one message'));
  const split = Buffer.from(raw('SEND', { destination: '/topic/in' }, 'split over two messages'));
  c.send(split.subarray(0, 20));
  c.send(split.subarray(20));
  const got = await sub.messages(5);
  t.same(
    got.map((m) => m.body.toString()),
    ['as text', 'as binary', 'two in', 'one message', 'split over two messages'],
  );
});

t.test('one frame per WebSocket message out; text when UTF-8; heart-beats are a lone "\\n"', async (t) => {
  const b = await startBroker(t, { heartbeat: { outgoingMs: 50, incomingMs: 0 } });
  const c = await b.client();
  await c.connect({ login: 'w', 'heart-beat': '0,50' });
  await c.subscribe('s', '/topic/out');
  await b.broker.publish('/topic/out', { json: true });
  await b.broker.publish('/topic/out', 'text é');
  await b.broker.publish('/topic/out', Buffer.from([0xff, 0xfe, 0x00, 0x01]));
  for (let i = 0; i < 5; i++) await b.broker.publish('/topic/out', `burst ${i}`);
  await c.messages(8);
  await c.until(() => c.heartbeats >= 2 || undefined, 3000, 'heart-beats');
  let frames = 0;
  let beats = 0;
  for (const { data, binary } of c.wsMessages) {
    if (data.length === 1 && data[0] === 0x0a) {
      t.notOk(binary, 'the heart-beat is a text message');
      beats++;
      continue;
    }
    const parsed = framesOf(data);
    t.equal(parsed.frames.length, 1, 'exactly one frame in the message');
    t.equal(parsed.heartbeats, 0, 'no heart-beat glued to a frame');
    t.equal(parsed.leftover, 0, 'nothing after the frame');
    const f = parsed.frames[0]!;
    const utf8 = Buffer.from(data.toString('utf8')).equals(data);
    t.equal(binary, !utf8, `${f.command} ${utf8 ? 'text' : 'binary'} message`);
    frames++;
  }
  t.equal(frames, 1 + 1 + 8, 'CONNECTED, RECEIPT and eight MESSAGEs');
  t.ok(beats >= 2, 'heart-beats arrived as lone "\\n" messages');
});

t.test('origin allow-list', async (t) => {
  const b = await startBroker(t, { allowedOrigins: ['http://good.example', 'https://*.corp.example'] });
  const bad = await RawClient.ws(`${b.url}/ws`, { origin: 'http://evil.example' }).then(
    () => null,
    (e: { status?: number }) => e,
  );
  t.equal(bad?.status, 403, 'another origin is refused with HTTP 403');
  const bad2 = await RawClient.ws(`${b.url}/ws/websocket`, { origin: 'http://good.example.evil' }).then(
    () => null,
    (e: { status?: number }) => e,
  );
  t.equal(bad2?.status, 403, 'prefix tricks are refused');
  for (const origin of ['http://good.example', 'https://app.corp.example', undefined]) {
    const c = await b.client(origin ? { origin } : {});
    t.equal((await c.connect({ login: 'o' })).command, 'CONNECTED', `origin ${origin ?? '(none)'} accepted`);
  }
  t.equal(DEFAULTS.allowedOrigins, null, 'unset by default: any origin, or same-origin when cookie tokens are accepted (spec/hostile/browser.test.ts)');
});

t.test('every client mistake over a WebSocket: the ERROR, then a clean close (1000); other sessions unaffected', async (t) => {
  // The table is shared with the session core run (spec/session/protocol.test.ts).
  const b = await startBroker(t);
  await runClientMistakes(t, {
    broker: core(b.broker),
    handle: (path, fn) => b.broker.handle(path, fn),
    open: () => b.client(),
    user: (login) => b.user(login),
    closed: (t, c) => t.equal(c.closeCode, 1000, 'a clean WebSocket close'),
  });
});

t.test('message size limit: an oversized WebSocket message closes the connection (1009)', async (t) => {
  const b = await startBroker(t, { limits: { maxFrameBytes: 1024, maxWebSocketMessageBytes: 2048 } });
  const other = await b.user('other');
  await other.subscribe('s', '/topic/alive');
  const c = await b.user('big');
  c.send(raw('SEND', { destination: '/topic/alive' }, 'x'.repeat(4096)));
  await c.waitClosed();
  t.equal(c.closeCode, 1009, 'close code 1009 (message too big)');
  // Between the frame limit and the message limit: a STOMP ERROR.
  const d = await b.user('medium');
  d.send(raw('SEND', { destination: '/topic/alive' }, 'y'.repeat(1500)));
  await expectError(t, d, ErrorCode.FRAME_TOO_LARGE);
  await b.broker.publish('/topic/alive', 'ok');
  t.equal((await other.next('MESSAGE')).body.toString(), 'ok', 'others unaffected');
});

t.test('default message size: at least 1 MiB, and a ~1 MiB frame goes through', async (t) => {
  t.ok(DEFAULTS.limits.maxWebSocketMessageBytes >= MiB, 'default >= 1 MiB');
  t.ok(DEFAULTS.limits.maxWebSocketMessageBytes >= DEFAULTS.limits.maxFrameBytes, 'a maximal frame fits in one message');
  const b = await startBroker(t);
  const sub = await b.user('sub');
  await sub.subscribe('s', '/topic/big');
  const pub = await b.user('pub');
  const body = Buffer.alloc(MiB - 256, 'z');
  pub.send({ command: 'SEND', headers: { destination: '/topic/big' }, body });
  const m = await sub.next('MESSAGE', 10_000);
  t.equal(m.body.length, body.length);
  t.ok(m.body.equals(body), 'the body arrived intact');
});

t.test('a client is not timed out for heart-beats the server did not read while it paused input behind a slow handler', async (t) => {
  // The server expects a heart-beat every 100 ms (window 100 × graceFactor); the client sends one every 40 ms.
  const b = await startBroker(t, { heartbeat: { outgoingMs: 0, incomingMs: 100 } });
  const { release, started: handlerStarted } = blockingHandler(t, b.broker, '/slow');
  const c = await RawClient.ws(`${b.url}/ws`);
  await c.connect({ login: 'patient', 'heart-beat': '40,0' });
  const beats = setInterval(() => c.sendText('\n'), 40);
  t.teardown(() => clearInterval(beats));
  let frames = 'SEND\ndestination:/app/slow\n\n\0';
  for (let i = 0; i < 1100; i++) frames += `SEND\ndestination:/topic/t\n\n${i}\0`; // > 1000 queued: input pauses
  frames += 'SEND\ndestination:/topic/t\nreceipt:done\n\nlast\0';
  c.sendText(frames);
  await handlerStarted;
  // The phenomenon is time passing: stay paused for ten heart-beat windows, then look.
  const t0 = Date.now();
  await waitFor(() => Date.now() - t0 >= 1000, { timeoutMs: 5000, what: 'ten heart-beat windows' });
  t.notOk(c.frames.some((f) => f.command === 'ERROR'), 'no heart-beat timeout while the server was not reading');
  release();
  const r = await c.next('RECEIPT', 10_000);
  t.equal(r.headers['receipt-id'], 'done', 'every queued frame was processed once the handler finished');
});

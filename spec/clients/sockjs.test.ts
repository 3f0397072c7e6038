/**
 * SockJS endpoints (Spring's addEndpoint("/ws").withSockJS()): routing next to the
 * raw WebSocket endpoint, the origin allow-list, `sockjs: false`, what auth hooks
 * see, and legacy stompjs 2.3.3 + sockjs-client 1.6 over every transport it uses
 * in Node (websocket, xhr-streaming, xhr-polling) with heart-beats.
 */
import t from 'tap';
import WebSocket from 'ws';
import type { AuthContext } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { request } from '../helpers/http.js';
import { legacyStompjs } from './adapters.js';
import { core } from '../helpers/internals.js';

/** Open a WebSocket; resolve with it (and its first message) or with the HTTP status of a refused upgrade. */
function wsOpen(url: string, opts: { protocols?: string[]; origin?: string } = {}): Promise<{ ws?: WebSocket; first?: string; status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], opts.origin ? { origin: opts.origin } : {});
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
    ws.on('open', () => {
      if (opts.protocols?.length) return resolve({ ws });
      ws.once('message', (d: Buffer) => resolve({ ws, first: d.toString() }));
    });
  });
}

/** Poll `pred` every 20 ms (for state no event announces: debug logs, broker session counts). */
async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sessionUrl = (base: string, transport: string, session = Math.random().toString(36).slice(2)): string =>
  `${base}/ws/123/${session}/${transport}`;

t.test('SockJS endpoints live next to the raw WebSocket endpoint', async (t) => {
  const b = await startBroker(t);

  const welcome = await request(`${b.httpUrl}/ws`);
  t.equal(welcome.status, 200);
  t.equal(welcome.body, 'Welcome to SockJS!\n', 'GET /ws is the SockJS greeting');

  const info = await request(`${b.httpUrl}/ws/info`);
  t.equal(info.status, 200);
  const body = JSON.parse(info.body) as Record<string, unknown>;
  t.equal(body['websocket'], true, '/ws/info advertises the websocket transport');
  t.type(body['entropy'], 'number');
  t.match(info.headers['cache-control'], /no-cache/);

  const iframe = await request(`${b.httpUrl}/ws/iframe.html`);
  t.equal(iframe.status, 200);
  t.match(iframe.body, /SockJS\.bootstrap_iframe/, 'iframe page served');

  // Raw WebSocket at /ws and /ws/websocket stays ours (STOMP subprotocol negotiated, transport 'websocket').
  for (const path of ['/ws', '/ws/websocket']) {
    const c = await b.client({ path });
    t.equal(c.protocol, 'v12.stomp', `${path}: raw STOMP WebSocket, subprotocol negotiated`);
    await c.connect({ login: 'raw' });
    const s = [...core(b.broker).sessions].find((x) => x.conn.transport === 'websocket');
    t.ok(s, `${path}: session on the websocket transport`);
    c.close();
  }

  // The SockJS websocket transport is sockjs's: it greets with the open frame "o".
  const sj = await wsOpen(sessionUrl(b.url, 'websocket'));
  t.equal(sj.first, 'o', 'SockJS websocket transport opens with "o"');
  sj.ws!.terminate();

  const unknown = await request(`${b.httpUrl}/ws/123/abc/nonsense`, { method: 'POST' });
  t.equal(unknown.status, 404, 'unknown transport is 404');

  const other = await wsOpen(`${b.url}/elsewhere`);
  t.equal(other.status, 404, 'upgrades elsewhere are still refused');
});

t.test('raw SockJS protocol over xhr: open, send a STOMP frame, receive CONNECTED; request reaches the auth hook', async (t) => {
  const seen: AuthContext[] = [];
  const b = await startBroker(t, {
    authenticate: (ctx) => {
      seen.push(ctx);
      return { name: String(ctx.headers['login'] ?? 'anon') };
    },
  });
  const base = `${b.httpUrl}/ws/000/rawsession`;
  const open = await request(`${base}/xhr?token=abc`, { method: 'POST', headers: { cookie: 'SESSION=s3cr3t', authorization: 'Bearer x.y.z' } });
  t.equal(open.status, 200);
  t.equal(open.body, 'o\n', 'xhr poll opens the session');
  const connect = 'CONNECT\naccept-version:1.2\nhost:localhost\nlogin:hugo\nheart-beat:0,0\n\n\0';
  const sent = await request(`${base}/xhr_send`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8' }, body: JSON.stringify([connect]) });
  t.equal(sent.status, 204, 'xhr_send accepted');
  const poll = await request(`${base}/xhr`, { method: 'POST' });
  t.equal(poll.status, 200);
  t.match(poll.body, /^a\[/, 'poll returns an array frame');
  const frames = JSON.parse(poll.body.slice(1)) as string[];
  t.equal(frames.length, 1, 'one STOMP frame per SockJS message');
  t.match(frames[0], /^CONNECTED\n/, 'CONNECTED');
  t.match(frames[0], /\nuser-name:hugo\n/);
  t.ok(frames[0]!.endsWith('\0'), 'frame ends with NUL');

  t.equal(seen.length, 1);
  const ctx = seen[0]!;
  t.equal(ctx.transport, 'sockjs');
  t.equal(ctx.remoteAddress, '127.0.0.1');
  t.ok(ctx.request, 'the HTTP request that opened the SockJS session is passed');
  t.equal(ctx.request?.url, '/ws/000/rawsession/xhr?token=abc', 'with its URL and query string');
  t.equal(ctx.request?.headers.cookie, 'SESSION=s3cr3t', 'and its cookies');
  t.equal(ctx.request?.headers.authorization, 'Bearer x.y.z', 'and its Authorization header');

  // Wrong session / transport paths.
  const sendUnknown = await request(`${b.httpUrl}/ws/000/nosuchsession/xhr_send`, { method: 'POST', body: '["x"]' });
  t.equal(sendUnknown.status, 404, 'xhr_send to an unknown session is 404');
});

t.test('SockJS input is bounded (2 x limits.maxWebSocketMessageBytes)', async (t) => {
  const b = await startBroker(t, { limits: { maxFrameBytes: 1024, maxWebSocketMessageBytes: 2048 } });
  const base = `${b.httpUrl}/ws/000/bounded`;
  t.equal((await request(`${base}/xhr`, { method: 'POST' })).body, 'o\n');
  const tooBig = await request(`${base}/xhr_send`, { method: 'POST', body: JSON.stringify(['x'.repeat(5000)]) });
  t.equal(tooBig.status, 413, 'xhr_send body over the limit is refused');

  const { ws, first } = await wsOpen(sessionUrl(b.url, 'websocket'));
  t.equal(first, 'o');
  const closed = new Promise<number>((r) => ws!.once('close', (code: number) => r(code)));
  ws!.send(JSON.stringify(['x'.repeat(5000)]));
  t.equal(await closed, 1009, 'SockJS websocket message over the limit closes with 1009 (too big)');
});

t.test('origin allow-list applies to SockJS requests and upgrades', async (t) => {
  const b = await startBroker(t, { allowedOrigins: ['https://app.example.com', 'https://*.trusted.example'] });
  const good = { origin: 'https://app.example.com' };
  const bad = { origin: 'https://evil.example' };

  t.equal((await request(`${b.httpUrl}/ws/info`, { headers: good })).status, 200, 'info: allowed origin');
  t.equal((await request(`${b.httpUrl}/ws/info`, { headers: { origin: 'https://x.trusted.example' } })).status, 200, 'info: wildcard origin');
  t.equal((await request(`${b.httpUrl}/ws/info`)).status, 200, 'info: no Origin (not a browser)');
  t.equal((await request(`${b.httpUrl}/ws/info`, { headers: bad })).status, 403, 'info: refused origin');
  const preflight = await request(`${b.httpUrl}/ws/info`, { method: 'OPTIONS', headers: { ...good, 'access-control-request-method': 'GET' } });
  t.equal(preflight.status, 204, 'CORS preflight from an allowed origin');
  t.equal(preflight.headers['access-control-allow-origin'], good.origin);
  t.equal((await request(`${b.httpUrl}/ws/info`, { method: 'OPTIONS', headers: bad })).status, 403, 'preflight: refused origin');
  t.equal((await request(sessionUrl(b.httpUrl, 'xhr_streaming'), { method: 'POST', headers: bad })).status, 403, 'xhr_streaming: refused origin');
  const opened = await request(sessionUrl(b.httpUrl, 'xhr'), { method: 'POST', headers: good });
  t.equal(opened.status, 200, 'xhr: allowed origin');
  t.equal(opened.headers['access-control-allow-origin'], good.origin, 'CORS header echoes the allowed origin');
  t.equal((await request(`${b.httpUrl}/ws/iframe.html`)).status, 404, 'iframe transports are off when origins are restricted (as Spring)');

  t.equal((await wsOpen(sessionUrl(b.url, 'websocket'), bad)).status, 403, 'SockJS websocket: refused origin');
  const ok = await wsOpen(sessionUrl(b.url, 'websocket'), good);
  t.equal(ok.first, 'o', 'SockJS websocket: allowed origin');
  ok.ws!.terminate();
  t.equal((await wsOpen(`${b.url}/ws`, { ...bad, protocols: ['v12.stomp'] })).status, 403, 'raw WebSocket: still refused');
});

t.test('sockjs: false turns SockJS off and leaves raw WebSocket alone', async (t) => {
  const b = await startBroker(t, { sockjs: false });
  t.equal((await request(`${b.httpUrl}/ws/info`)).status, 404, '/ws/info is gone');
  t.equal((await request(`${b.httpUrl}/ws`)).status, 404, '/ws over plain HTTP is gone');
  t.equal((await request(sessionUrl(b.httpUrl, 'xhr'), { method: 'POST' })).status, 404, 'xhr transport is gone');
  t.equal((await wsOpen(sessionUrl(b.url, 'websocket'))).status, 404, 'SockJS websocket transport is gone');
  const c = await b.user('raw');
  t.equal(c.protocol, 'v12.stomp', 'raw WebSocket still works');
});

t.test('every configured endpoint gets SockJS', async (t) => {
  const b = await startBroker(t, { endpoints: ['/ws', '/stomp'] });
  t.equal((await request(`${b.httpUrl}/stomp/info`)).status, 200);
  const c = legacyStompjs(`${b.httpUrl}/stomp`, { sockjs: { transports: ['xhr-streaming'] } });
  const h = await c.connect('ivy');
  t.equal(h['user-name'], 'ivy', 'stompjs 2.3.3 over SockJS on the second endpoint');
  await c.close();
});

for (const transport of ['websocket', 'xhr-streaming', 'xhr-polling']) {
  t.test(`stompjs 2.3.3 + sockjs-client over ${transport}: user destination, topic, receipts, heart-beats`, async (t) => {
    // Short intervals so several beats pass quickly; a generous grace factor (read
    // window 1 s) so a loaded CI machine does not turn a late beat into a timeout.
    let authUrl: string | undefined;
    const b = await startBroker(t, {
      heartbeat: { outgoingMs: 200, incomingMs: 200, graceFactor: 5, minMs: 10 },
      authenticate: (ctx) => {
        authUrl = ctx.request?.url;
        return ctx.headers['login'] ? { name: ctx.headers['login'] } : null;
      },
    });
    const debug: string[] = [];
    const c = legacyStompjs(`${b.httpUrl}/ws?token=t0k`, {
      sockjs: { transports: [transport] },
      // The client tolerates 2 x 500 ms of server silence before it closes by itself.
      heartbeat: { outgoing: 200, incoming: 500 },
      debug,
    });
    const connected = await c.connect('jo');
    t.equal(c.transport(), transport, `sockjs-client uses ${transport}`);
    t.equal(connected['version'], '1.1', 'stompjs 2.3.3 offers 1.1,1.0');
    t.equal(connected['user-name'], 'jo');
    t.equal(connected['heart-beat'], '200,200', 'server heart-beat in CONNECTED');
    t.ok(debug.includes('send PING every 200ms'), 'client negotiated sending heart-beats');
    t.ok(debug.includes('check PONG every 500ms'), 'client negotiated expecting heart-beats');

    const session = [...core(b.broker).sessions][0]!;
    t.equal(session.conn.transport, 'sockjs');
    t.match(authUrl, /[?&]token=t0k/, 'the authenticate hook sees the endpoint query');
    t.equal(session.conn.request, undefined, 'the request is not kept after CONNECT');

    c.subscribe('/user/queue/x');
    c.subscribe('/topic/t');
    await c.sendWithReceipt('/topic/t', 'hi', 'r-1');
    t.ok(c.inbox.receipts.includes('r-1'), 'receipt');
    await c.inbox.take((m) => m.body === 'hi', 'own topic message');
    await b.broker.sendToUser('jo', '/queue/x', { n: 1 });
    const dm = await c.inbox.take((m) => m.headers['destination'] === '/user/queue/x', 'sendToUser');
    t.same(JSON.parse(dm.body), { n: 1 });
    await b.broker.publish('/topic/t', { n: 2 });
    const pub = await c.inbox.take((m) => m.headers['destination'] === '/topic/t', 'publish');
    t.same(JSON.parse(pub.body), { n: 2 });

    // A frame bigger than stompjs's 16 KiB WebSocket-frame limit is sent in several SockJS messages.
    const big = 'x'.repeat(40_000);
    await c.sendWithReceipt('/topic/t', big, 'r-big');
    const bigMsg = await c.inbox.take((m) => m.body.length === big.length, 'big message');
    t.equal(bigMsg.body, big, '40 kB body across split SockJS messages, back in one');

    // Heart-beats flow both ways and keep the session alive.
    const pings = debug.filter((l) => l === '>>> PING').length;
    const pongs = debug.filter((l) => l === '<<< PONG').length;
    await waitFor(
      () => {
        if (c.inbox.closed || c.inbox.errors.length) throw new Error(`connection lost: ${JSON.stringify(c.inbox.errors)}`);
        return debug.filter((l) => l === '>>> PING').length >= pings + 4 && debug.filter((l) => l === '<<< PONG').length >= pongs + 3;
      },
      'heart-beats both ways',
      10_000,
    );
    t.ok(true, 'client sent PINGs and received PONGs ("\\n" SockJS messages)');
    t.notOk(c.inbox.closed, 'still connected after several heart-beat periods');
    t.ok(core(b.broker).sessions.has(session), 'server session still open');
    await c.close();
  });
}

t.test('closing the socket of the SockJS websocket transport ends the session at once', async (t) => {
  const b = await startBroker(t);
  const c = legacyStompjs(`${b.httpUrl}/ws`);
  await c.connect('kim');
  t.equal(core(b.broker).sessions.size, 1);
  const started = Date.now();
  c.sock().close(); // no DISCONNECT
  await waitFor(() => core(b.broker).sessions.size === 0, 'session closed', 3000);
  t.equal(core(b.broker).sessions.size, 0, 'session closed');
  t.ok(Date.now() - started < 2000, `without waiting for the SockJS disconnect delay (${Date.now() - started} ms)`);
});

t.test('shutdown: SockJS clients get an ERROR and close() does not wait for SockJS timers', async (t) => {
  const b = await startBroker(t);
  const clients = [
    legacyStompjs(`${b.httpUrl}/ws`),
    legacyStompjs(`${b.httpUrl}/ws`, { sockjs: { transports: ['xhr-streaming'] } }),
    legacyStompjs(`${b.httpUrl}/ws`, { sockjs: { transports: ['xhr-polling'] } }),
  ];
  let i = 0;
  for (const c of clients) await c.connect(`u${i++}`);
  t.equal(core(b.broker).sessions.size, 3);
  const started = Date.now();
  await b.broker.close();
  t.ok(Date.now() - started < 3000, `broker closed in ${Date.now() - started} ms`);
  for (const c of clients) {
    const err = await c.inbox.until(() => c.inbox.errors[0], `${c.transport()}: shutdown ERROR`);
    t.equal(err.headers['code'], 'STOMP_ERR_SERVER_SHUTDOWN', `${c.transport()}: told the server is going away`);
  }
  for (const c of clients) await c.close();
});

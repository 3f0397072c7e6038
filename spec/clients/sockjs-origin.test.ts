/**
 * SockJS against cross-site requests and bogus ones (src/transport/sockjs.ts):
 * unless the origin allow-list is `*`, the transports a browser uses without an
 * Origin (jsonp, jsonp_send, htmlfile) and the iframe page are off (404), every
 * request (xhr_send included) passes the allow-list, and an Origin-less request the
 * browser marks cross-site is refused; a send to a session this node does not have
 * is answered 404 without its body being read; requests that cannot open a session
 * are not remembered, and at most `http.maxConnections` requests are remembered
 * while they open their session (503 past that).
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import t from 'tap';
import WebSocket from 'ws';
import type { Tap } from '../conformance/fixtures.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { request } from '../helpers/http.js';
import { core } from '../helpers/internals.js';
import { waitFor, within } from '../helpers/wait.js';
import { originPolicy } from '../../src/transport/origin.js';
import { SockJSEndpoints } from '../../src/transport/sockjs.js';

const newId = (): string => Math.random().toString(36).slice(2);
const connectFrame = (login: string): string => `CONNECT\naccept-version:1.2\nhost:localhost\nlogin:${login}\nheart-beat:0,0\n\n\0`;

/** A raw HTTP/1.1 connection: what the test writes goes out as is (pipelined requests, `#` in a path, part of a body). */
function rawConnection(port: number) {
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  sock.setEncoding('latin1');
  sock.on('error', () => undefined); // writing into a connection the server closed
  let response = '';
  let arrived: () => void = () => undefined;
  sock.on('data', (d: string) => {
    response += d;
    arrived();
  });
  const closed = within(new Promise<void>((r) => sock.once('close', () => r())), 10_000, 'the server closing the connection');
  void closed.catch(() => undefined);
  /** The status of every response so far, in order. */
  const statuses = (): number[] => [...response.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
  return {
    sock,
    /** Resolves once the server closed the connection (rejects after 10 s). */
    closed,
    statuses,
    response: () => response,
    /** Resolves once `n` responses have begun (rejects after `ms`). */
    responses(n: number, ms = 10_000): Promise<number[]> {
      return within(
        new Promise<number[]>((resolve) => {
          const check = (): void => {
            if (statuses().length >= n) resolve(statuses());
          };
          arrived = check;
          check();
        }),
        ms,
        `${n} responses`,
      );
    },
  };
}

/** A request's bytes (a body, when given, with its Content-Length). */
function rawRequest(method: string, path: string, headers: Record<string, string> = {}, body = ''): string {
  const all: Record<string, string> = { host: '127.0.0.1', ...headers };
  if (body || method === 'POST') all['content-length'] ??= String(Buffer.byteLength(body));
  const head = Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `${method} ${path} HTTP/1.1\r\n${head}\r\n${body}`;
}

/** Open a SockJS session over xhr-polling and CONNECT on it: the node serves SockJS. */
async function xhrSessionConnects(b: { httpUrl: string }, login: string, headers: Record<string, string> = {}): Promise<string> {
  const base = `${b.httpUrl}/ws/000/${newId()}`;
  const open = await request(`${base}/xhr`, { method: 'POST', headers });
  if (open.body !== 'o\n') throw new Error(`open: ${open.status} ${open.body}`);
  const sent = await request(`${base}/xhr_send`, { method: 'POST', headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers }, body: JSON.stringify([connectFrame(login)]) });
  if (sent.status !== 204) throw new Error(`send: ${sent.status} ${sent.body}`);
  const poll = await request(`${base}/xhr`, { method: 'POST', headers });
  return poll.body;
}

t.test('allow-list not *: jsonp, jsonp_send, htmlfile and the iframe page are 404', async (t) => {
  const b = await startBroker(t, { allowedOrigins: ['https://app.example'] });
  const base = `${b.httpUrl}/ws/000/abc`;
  t.equal((await request(`${base}/jsonp?c=x`)).status, 404, 'jsonp');
  const form = `d=${encodeURIComponent(JSON.stringify(['x']))}`;
  t.equal((await request(`${base}/jsonp_send`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })).status, 404, 'jsonp_send');
  t.equal((await request(`${base}/htmlfile?c=x`, { readMs: 1000 })).status, 404, 'htmlfile');
  t.equal((await request(`${b.httpUrl}/ws/iframe.html`)).status, 404, 'iframe.html');
  t.equal((await request(`${b.httpUrl}/ws/iframe-1.6.1.html`)).status, 404, 'iframe-<version>.html');
  t.equal((await request(`${base}/jsonp?c=x`, { headers: { origin: 'https://app.example' } })).status, 404, 'jsonp, even from an allowed origin');
  t.equal(core(b.broker).sessions.size, 0, 'no session was opened');

  // The path as sockjs reads it (legacy url.parse: no `#...`, `\\` is `/`): each spelling is still 404.
  const oneRequest = async (path: string): Promise<string> => {
    const c = rawConnection(b.port);
    c.sock.write(rawRequest('GET', path, { connection: 'close' }));
    await c.closed;
    return c.response();
  };
  for (const path of ['/ws/iframe.html#x', '/ws/000/abc/jsonp#', '/ws/000/abc/htmlfile#', '/ws/000/abc/jsonp#?c=x', '/ws/000\\abc\\jsonp?c=x', '/ws/000/abc\\htmlfile?c=x']) {
    const res = await oneRequest(path);
    t.match(res, /^HTTP\/1\.1 404 /, path);
    t.notMatch(res, /bootstrap_iframe|"o"/, `${path}: neither the iframe page nor an open frame`);
  }
});

t.test('allow-list not *: xhr_send from another origin is 403; from the allowed one it reaches the session', async (t) => {
  const b = await startBroker(t, { allowedOrigins: ['https://app.example'] });
  const base = `${b.httpUrl}/ws/000/${newId()}`;
  const good = { origin: 'https://app.example' };
  t.equal((await request(`${base}/xhr`, { method: 'POST', headers: good })).body, 'o\n', 'session opened by the allowed origin');
  const frame = JSON.stringify([connectFrame('eve')]);
  const evil = await request(`${base}/xhr_send`, { method: 'POST', headers: { origin: 'https://evil.example', 'content-type': 'text/plain;charset=UTF-8' }, body: frame });
  t.equal(evil.status, 403, 'xhr_send with Origin: https://evil.example');
  t.equal(core(b.broker).counters.framesIn, 0, 'its frame did not reach the session');
  const ok = await request(`${base}/xhr_send`, { method: 'POST', headers: { ...good, 'content-type': 'text/plain;charset=UTF-8' }, body: frame });
  t.equal(ok.status, 204, 'xhr_send from the allowed origin');
  const poll = await request(`${base}/xhr`, { method: 'POST', headers: good });
  t.match(poll.body, /^a\["CONNECTED\\n/, 'CONNECTED');
});

t.test('allow-list not *: an eventsource GET without Origin that the browser marks cross-site is 403', async (t) => {
  const b = await startBroker(t, { allowedOrigins: ['https://app.example'] });
  const crossSite = await request(`${b.httpUrl}/ws/000/${newId()}/eventsource`, { headers: { 'sec-fetch-site': 'cross-site' }, readMs: 1000 });
  t.equal(crossSite.status, 403, 'no Origin, Sec-Fetch-Site: cross-site');
  t.equal(core(b.broker).sessions.size, 0, 'no session was opened');
  const sameOrigin = await request(`${b.httpUrl}/ws/000/${newId()}/eventsource`, { headers: { 'sec-fetch-site': 'same-origin' }, readMs: 500 });
  t.equal(sameOrigin.status, 200, 'no Origin, Sec-Fetch-Site: same-origin (the page\'s own EventSource)');
  t.match(sameOrigin.body, /data: o\r\n/, 'the session opened');
});

t.test('allow-list *: jsonp opens a session', async (t) => {
  const b = await startBroker(t, { allowedOrigins: ['*'] });
  const r = await request(`${b.httpUrl}/ws/000/${newId()}/jsonp?c=x`, { headers: { 'sec-fetch-site': 'cross-site' } });
  t.equal(r.status, 200);
  t.match(r.body, /x\("o"\);/, 'the open frame, wrapped in the callback');
  t.equal((await request(`${b.httpUrl}/ws/iframe.html`)).status, 200, 'the iframe page is served');
});

t.test('xhr_send to a session this node does not have: 404 before the body is read, connection closed', async (t) => {
  const b = await startBroker(t);
  const c = rawConnection(b.port);
  // 100 KB declared (far under the 2.2 MB cap), 1 KB sent: the rest never comes.
  c.sock.write(rawRequest('POST', `/ws/000/${newId()}/xhr_send`, { 'content-type': 'text/plain;charset=UTF-8', 'content-length': '100000' }, '['.padEnd(1000, ' ')));
  t.same(await c.responses(1, 5000), [404], '404 Not Found, without waiting for the rest of the body');
  await c.closed;
  t.pass('the server closed the connection');
  t.match(await xhrSessionConnects(b, 'after'), /^a\["CONNECTED\\n/, 'the node serves SockJS sessions as before');
});

t.test('bogus requests (500 wrong-method opens, unknown paths, sends to no session) leave the node serving SockJS', async (t) => {
  const b = await startBroker(t);
  for (let round = 0; round < 10; round++) {
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => request(`${b.httpUrl}/ws/000/${newId()}/xhr`)), // xhr is POST
    );
    t.same(new Set(answers.map((a) => a.status)), new Set([405]), `round ${round}: 50 GETs of .../xhr are 405`);
  }
  const unknown = await Promise.all([
    request(`${b.httpUrl}/ws/000/${newId()}/nosuchtransport`, { method: 'POST' }),
    request(`${b.httpUrl}/ws/000/${newId()}/xhr_streaming`), // POST only
    request(`${b.httpUrl}/ws/nope`),
    request(`${b.httpUrl}/ws/000/${newId()}/xhr_send`, { method: 'POST', body: '["x"]' }),
  ]);
  t.same(
    unknown.map((a) => a.status),
    [404, 405, 404, 404],
    'unknown transport, wrong method, unknown path, send to no session',
  );
  t.equal(core(b.broker).sessions.size, 0, 'none of them opened a session');
  t.match(await xhrSessionConnects(b, 'after'), /^a\["CONNECTED\\n/, 'a normal SockJS session still opens and connects');
});

t.test('http.maxConnections: past that many requests opening sessions at once, the next gets 503; then opening works again', async (t) => {
  const b = await startBroker(t, { http: { maxConnections: 2 } });
  const open = (id: string, headers: Record<string, string> = {}): string => rawRequest('POST', `/ws/000/${id}/xhr`, headers);
  // Pipelined, in one write: the server takes them in one turn of the event loop (the
  // fourth is never answered: the 503 closes the connection).
  const c = rawConnection(b.port);
  c.sock.write(open(newId()) + open(newId()) + open(newId()) + open(newId(), { connection: 'close' }));
  await c.closed;
  t.same(c.statuses(), [200, 200, 503], 'two open, the third is refused (and its connection closed)');
  t.equal(core(b.broker).sessions.size, 2, 'two sessions');

  // Requests that cannot open a session (the wrong method for their transport) are not counted.
  const d = rawConnection(b.port);
  d.sock.write(
    rawRequest('GET', `/ws/000/${newId()}/xhr`) +
      rawRequest('GET', `/ws/000/${newId()}/xhr_streaming`) +
      rawRequest('POST', `/ws/000/${newId()}/eventsource`) +
      open(newId()) +
      open(newId()) +
      open(newId(), { connection: 'close' }),
  );
  await d.closed;
  t.same(d.statuses(), [405, 405, 405, 200, 200, 503], 'three wrong-method requests, then two open and the third is refused');

  t.match(await xhrSessionConnects(b, 'after'), /^a\["CONNECTED\\n/, 'once they opened, a new session opens');
});

/** A SockJSEndpoints of our own, on its own listener, over the core of `b`: its `openingSize` can be read. */
async function ownEndpoints(t: Tap, b: TestBroker, maxConnections: number): Promise<{ sockjs: SockJSEndpoints; port: number; httpUrl: string }> {
  const app = Fastify({ forceCloseConnections: true });
  const cfg = { endpoints: ['/ws'], limits: b.broker.config.limits, http: { ...b.broker.config.http, maxConnections } };
  /** Upgraded sockets: the listener does not close them, the teardown does. */
  const upgraded = new Set<Duplex>();
  const sockjs = new SockJSEndpoints(
    {
      app,
      addUpgradeHandler: (h) =>
        app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          upgraded.add(socket);
          if (!h(req, socket, head)) socket.destroy();
        }),
    },
    core(b.broker),
    cfg,
    { log: pino({ level: 'silent' }), origins: originPolicy(['*']) },
  );
  t.teardown(async () => {
    sockjs.close();
    for (const s of upgraded) s.destroy();
    await app.close();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { sockjs, port, httpUrl: `http://127.0.0.1:${port}` };
}

/** A WebSocket upgrade in the draft-76 handshake, without the 8 bytes that must follow it: the server waits for them before opening. */
function heldUpgrade(port: number, id: string) {
  const c = rawConnection(port);
  c.sock.write(
    rawRequest('GET', `/ws/000/${id}/websocket`, {
      upgrade: 'WebSocket',
      connection: 'Upgrade',
      origin: 'http://127.0.0.1',
      'sec-websocket-key1': '4 @1  46546xW%0l 1 5',
      'sec-websocket-key2': '12998 5 Y3 1  .P00',
    }),
  );
  return c;
}

/** The status a SockJS websocket upgrade on `port` gets (101 when it opens). */
function upgradeStatus(port: number): Promise<number> {
  return within(
    new Promise<number>((resolve) => {
      const w = new WebSocket(`ws://127.0.0.1:${port}/ws/000/${newId()}/websocket`);
      w.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      w.on('open', () => (w.terminate(), resolve(101)));
      w.on('error', () => undefined);
    }),
    5000,
    'a websocket upgrade',
  );
}

t.test('openingSize: 500 wrong-method requests, unknown paths and sends to no session remember nothing', async (t) => {
  const b = await startBroker(t);
  const own = await ownEndpoints(t, b, 10_000);
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 50 }, () => request(`${own.httpUrl}/ws/000/${newId()}/xhr`)));
    t.equal(own.sockjs.openingSize, 0, `after ${50 * (round + 1)} GETs of .../xhr`);
  }
  await Promise.all([
    request(`${own.httpUrl}/ws/000/${newId()}/nosuchtransport`, { method: 'POST' }),
    request(`${own.httpUrl}/ws/000/${newId()}/eventsource`, { method: 'POST' }),
    request(`${own.httpUrl}/ws/nope/x`),
    request(`${own.httpUrl}/ws/000/${newId()}/xhr_send`, { method: 'POST', body: '["x"]' }),
  ]);
  t.equal(own.sockjs.openingSize, 0, 'after unknown paths and sends to no session');
  const opened = await Promise.all(Array.from({ length: 20 }, () => request(`${own.httpUrl}/ws/000/${newId()}/xhr`, { method: 'POST' })));
  t.same(new Set(opened.map((r) => r.body)), new Set(['o\n']), '20 sessions opened');
  t.equal(own.sockjs.openingSize, 0, 'the requests that opened them are let go');
  t.equal(own.sockjs.size, 20);
});

t.test('openingSize: an upgrade is remembered until it opens or its socket closes; meanwhile, past http.maxConnections, opening requests get 503', async (t) => {
  const b = await startBroker(t);
  const own = await ownEndpoints(t, b, 1);
  // No event says the server took the upgrade, or let go of it: poll the count (bounded).
  const openingSizeIs = (n: number, what: string): Promise<boolean> => waitFor(() => own.sockjs.openingSize === n, { what });

  const held = heldUpgrade(own.port, newId());
  await openingSizeIs(1, 'the upgrade waiting for its handshake to be remembered');
  t.pass('the upgrade waiting for its handshake is remembered');
  const refused = await request(`${own.httpUrl}/ws/000/${newId()}/xhr`, { method: 'POST' });
  t.equal(refused.status, 503, 'an xhr open while one request is opening (http.maxConnections: 1)');
  t.equal(await upgradeStatus(own.port), 503, 'a second websocket upgrade');
  t.equal((await request(`${own.httpUrl}/ws/000/${newId()}/xhr`)).status, 405, 'a request that cannot open a session is still served');

  held.sock.write('^n:ds[4U'); // the draft-76 key3: the server answers the handshake and the session opens
  await within(
    // A draft-76 frame is 0x00, the text, 0xff: the SockJS open frame is "o".
    new Promise<void>((resolve) => held.sock.on('data', () => held.response().includes('\x00o\xff') && resolve())),
    5000,
    'the handshake and the open frame',
  );
  t.match(held.response(), /^HTTP\/1\.1 101 /, 'the held upgrade opens');
  t.equal(own.sockjs.size, 1, 'its session is open');
  t.equal(own.sockjs.openingSize, 0, 'its request was taken by the session');
  t.equal((await request(`${own.httpUrl}/ws/000/${newId()}/xhr`, { method: 'POST' })).body, 'o\n', 'opening works again');

  const abandoned = heldUpgrade(own.port, newId());
  await openingSizeIs(1, 'the second held upgrade to be remembered');
  abandoned.sock.destroy();
  await abandoned.closed;
  await openingSizeIs(0, 'the abandoned upgrade to be let go');
  t.pass('an upgrade whose socket closed before it opened is let go');
  t.equal((await request(`${own.httpUrl}/ws/000/${newId()}/xhr`, { method: 'POST' })).body, 'o\n', 'opening works');
  held.sock.destroy();
});

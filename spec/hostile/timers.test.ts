/**
 * Timers a client chooses and connections it holds open are bounded:
 * negotiated heart-beats stay within [STOMP_HEARTBEAT_MIN_MS,
 * STOMP_HEARTBEAT_MAX_MS] (a wish of 3,000,000,000 ms used to overflow Node's
 * timer into a 1 ms storm), a silent client is closed within 2x its interval,
 * HTTP requests must arrive whole within the request timeout (upgraded
 * WebSockets and long SockJS responses are not requests in progress), and
 * the node holds at most STOMP_MAX_CONNECTIONS connections.
 */
import net from 'node:net';
import t from 'tap';
import { DEFAULTS } from '../../src/config.js';
import { ErrorCode } from '../../src/errors.js';
import { RawClient } from '../helpers/client.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { tcpSessions } from '../helpers/sessions.js';
import { waitFor } from '../helpers/wait.js';

t.test('the defaults', async (t) => {
  t.same(DEFAULTS.heartbeat, { outgoingMs: 1000, incomingMs: 1000, graceFactor: 1.5, minMs: 1000, maxMs: 3_600_000 });
  t.same(DEFAULTS.http, { requestTimeoutMs: 30_000, maxConnections: 10_000 });
});

t.test('heart-beat:0,3000000000 is held at the ceiling: no timer overflow, no storm', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const b = await startBroker(t, { tcpPort: 0, tcpHost: '127.0.0.1' });
  const sessions = await tcpSessions(t, b.tcpPort!, 20, '0,3000000000');
  for (const c of sessions) t.equal((await c.next('CONNECTED')).headers['heart-beat'], '1000,1000');
  // A round trip through the node after the timers were set up: a 1 ms storm would have shown by now.
  const probe = sessions[0]!;
  await probe.subscribe('p', '/topic/p');
  const start = Date.now();
  await waitFor(() => Date.now() - start >= 200, { what: '200 ms' });
  t.equal(sessions.reduce((n, c) => n + c.heartbeats, 0), 0, 'no heart-beat within 200 ms (the interval is 1 h)');
  t.notOk(warnings.includes('TimeoutOverflowWarning'), 'no TimeoutOverflowWarning');
});

for (const transport of ['ws', 'tcp'] as const) {
  t.test(`${transport}: the client's heart-beat wish decides; a silent client is closed within 2x its interval`, async (t) => {
    const b = await startBroker(t, { tcpPort: 0, tcpHost: '127.0.0.1' });
    const open = (): Promise<RawClient> => (transport === 'ws' ? b.client() : RawClient.tcp(b.tcpPort!));
    const wants = await open();
    t.teardown(() => wants.close());
    const f = await wants.connect({ 'heart-beat': '0,1000' });
    t.equal(f.headers['heart-beat'], '1000,1000', 'CONNECTED offers the floor, so the client decides');
    const since = Date.now();
    await wants.until(() => wants.heartbeats >= 2 || undefined, 3000, 'two heart-beats');
    t.ok(Date.now() - since < 2600, `two heart-beats in ${Date.now() - since} ms (every second, as asked)`);
    const silent = await open();
    t.teardown(() => silent.close());
    await silent.connect({ 'heart-beat': '1000,0' });
    const connectedAt = Date.now();
    await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT);
    const after = Date.now() - connectedAt;
    t.ok(after >= 1400 && after <= 2000, `closed ${after} ms after CONNECTED (window 1.5 s, at most 2x the 1 s interval)`);
  });
}

t.test('STOMP 1.0: CONNECTED carries no heart-beat header and no heart-beats flow', async (t) => {
  const b = await startBroker(t);
  const c = await b.client({ protocols: ['v10.stomp'] });
  c.send(raw('CONNECT', { login: 'old', 'heart-beat': '0,1000' }));
  const f = await c.next('CONNECTED');
  t.equal(f.headers['version'], '1.0');
  t.notOk('heart-beat' in f.headers, 'no heart-beat header for 1.0');
});

/** Open a raw TCP connection to the HTTP port, write `bytes`, resolve with ms until the server closed it. */
function closedAfter(port: number, bytes: string, maxMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const sock = net.connect(port, '127.0.0.1', () => {
      if (bytes) sock.write(bytes);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`still open after ${maxMs} ms`));
    }, maxMs);
    sock.on('data', () => undefined);
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

t.test('HTTP requests that never complete are closed after the request timeout; sessions are not', async (t) => {
  const b = await startBroker(t, { apiToken: 'tok', http: { requestTimeoutMs: 1000 } });
  const observer = await b.user('observer');
  await observer.subscribe('o', '/topic/obs');
  const slow = [
    ['POST to an unknown path, body never sent', 'POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n'],
    ['SockJS xhr_send, body never sent', 'POST /ws/000/abcdefgh/xhr_send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n'],
    ['HTTP API, body never sent', 'POST /api/topics/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{'],
    ['headers never finished', 'GET /health HTTP/1.1\r\nHost: x\r\n'],
    ['nothing sent at all', ''],
  ] as const;
  const times = await Promise.all(slow.map(([, bytes]) => closedAfter(b.port, bytes, 6000)));
  for (let i = 0; i < slow.length; i++) t.ok(times[i]! <= 3000, `${slow[i]![0]}: closed after ${times[i]} ms`);
  await b.broker.publish('/topic/obs', 'still here');
  t.equal((await observer.next('MESSAGE')).body.toString(), 'still here', 'an idle WebSocket session outlived the request timeout');
  t.notOk(observer.closed);
});

t.test('STOMP_MAX_CONNECTIONS bounds connections over the HTTP and TCP listeners together', async (t) => {
  const b = await startBroker(t, { tcpPort: 0, tcpHost: '127.0.0.1', http: { maxConnections: 4 } });
  const observer = await b.user('observer');
  await observer.subscribe('o', '/topic/obs');
  const held: net.Socket[] = [];
  t.teardown(() => held.forEach((s) => s.destroy()));
  for (let i = 0; i < 3; i++) {
    const s = net.connect(i % 2 ? b.tcpPort! : b.port, '127.0.0.1');
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    held.push(s);
  }
  await waitFor(() => true);
  // The node now holds 4 (observer + 3): a fifth on either listener is dropped at once.
  t.ok((await closedAfter(b.port, 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n', 3000)) < 1000, 'HTTP: dropped at once');
  t.ok((await closedAfter(b.tcpPort!, '', 3000)) < 1000, 'TCP: dropped at once');
  const refused = await RawClient.ws(`${b.url}/ws`).then(
    () => 'connected',
    () => 'refused',
  );
  t.equal(refused, 'refused', 'a WebSocket is refused too');
  held.pop()!.destroy();
  const c = await waitFor(async () => RawClient.ws(`${b.url}/ws`).catch(() => null), { what: 'a free slot' });
  t.teardown(() => c.close());
  t.equal((await c.connect({ login: 'late' })).command, 'CONNECTED', 'a slot freed is taken again');
  await b.broker.publish('/topic/obs', 'still here');
  t.equal((await observer.next('MESSAGE')).body.toString(), 'still here', 'the observer never noticed');
});

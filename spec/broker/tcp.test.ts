/**
 * Plain STOMP over TCP (STOMP_TCP_PORT / tcpPort), tested with a real
 * third-party client (stompit), across transports with a WebSocket client,
 * and with a raw TCP client making mistakes.
 */
import t from 'tap';
import stompit, { type Client, type Message } from 'stompit';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import { RawClient } from '../helpers/client.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { Waiters } from '../helpers/wait.js';
import { core } from '../helpers/internals.js';

interface Received {
  headers: Record<string, string>;
  body: string;
  message: Message;
}

/** Collects what a stompit subscription receives; waits are event-driven. */
class Collector {
  readonly got: Received[] = [];
  private readonly waiters = new Waiters();
  readonly onMessage = (err: Error | null, message: Message): void => {
    if (err) return;
    message.readString('utf-8', (_e, body) => {
      this.got.push({ headers: message.headers, body: body ?? '', message });
      this.waiters.wake();
    });
  };
  take(n: number, ms = 5000): Promise<Received[]> {
    return this.waiters.until(() => (this.got.length >= n ? this.got.splice(0, n) : undefined), ms, `${n} messages`, () => `got ${this.got.length}`);
  }
}

function connect(t: { teardown(fn: () => unknown): void }, port: number, headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = stompit.connect({ host: '127.0.0.1', port, connectHeaders: { host: '/', ...headers } }, (err, client) => {
      if (err) reject(err);
      else resolve(client);
    });
    c.on('error', () => undefined); // errors are asserted through the callback or explicit listeners
    t.teardown(() => c.destroy());
  });
}

/** SUBSCRIBE with a receipt: resolves once the broker confirmed it. */
function subscribed(client: Client, headers: Record<string, string>, onMessage: Collector['onMessage']): Promise<void> {
  return new Promise((resolve) => {
    client.subscribe(headers, onMessage);
    // stompit sends frames in order: a receipted SEND to nowhere-in-particular confirms the SUBSCRIBE was processed.
    client.send({ destination: '/topic/__sync' }, { onReceipt: resolve }).end();
  });
}

t.test('TCP is off by default', async (t) => {
  t.equal(DEFAULTS.tcpPort, null);
  const b = await startBroker(t);
  t.equal(b.tcpPort, null);
});

t.test('stompit over TCP: connect, subscribe, send, receive, ack, disconnect', async (t) => {
  const b = await startBroker(t, { tcpPort: 0 });
  t.ok(b.tcpPort && b.tcpPort > 0, 'TCP listener on an ephemeral port');
  const alice = await connect(t, b.tcpPort!, { login: 'alice', 'heart-beat': '0,0' });
  t.equal(alice.headers['version'], '1.2');
  t.equal(alice.headers['user-name'], 'alice');
  t.ok(alice.headers['session']);

  const topic = new Collector();
  const mine = new Collector();
  await subscribed(alice, { destination: '/topic/tcp', ack: 'auto' }, topic.onMessage);
  await subscribed(alice, { destination: '/user/queue/x', ack: 'client-individual' }, mine.onMessage);

  // stompit -> stompit
  alice.sendString({ destination: '/topic/tcp', 'content-type': 'text/plain' }, 'from tcp');
  const [m1] = await topic.take(1);
  t.equal(m1!.body, 'from tcp');
  t.equal(m1!.headers['destination'], '/topic/tcp');

  // WebSocket -> TCP
  const ws = await b.user('ws-user');
  ws.send(raw('SEND', { destination: '/topic/tcp' }, 'from websocket'));
  t.equal((await topic.take(1))[0]!.body, 'from websocket');

  // TCP -> WebSocket
  await ws.subscribe('s', '/topic/to-ws');
  alice.sendString({ destination: '/topic/to-ws' }, 'tcp to ws');
  t.equal((await ws.next('MESSAGE')).body.toString(), 'tcp to ws');

  // sendToUser reaches the TCP session; client-individual ACK
  await b.broker.sendToUser('alice', '/queue/x', { over: 'tcp' });
  const [u] = await mine.take(1);
  t.same(JSON.parse(u!.body), { over: 'tcp' });
  t.equal(u!.headers['destination'], '/user/queue/x');
  t.equal(u!.headers['content-type'], 'application/json');
  t.ok(u!.headers['ack'], 'ack header');
  alice.ack(u!.message);
  await new Promise<void>((resolve) => alice.send({ destination: '/topic/__sync' }, { onReceipt: resolve }).end());
  const session = [...core(b.broker).sessions].find((s) => s.user === 'alice')!;
  t.equal(session.unackedCount, 0, 'the ACK was applied');

  // A large body crosses TCP segments intact.
  const big = 'b'.repeat(300_000);
  alice.sendString({ destination: '/topic/tcp' }, big);
  t.equal((await topic.take(1))[0]!.body.length, big.length);

  await new Promise<void>((resolve, reject) => alice.disconnect((err) => (err ? reject(err) : resolve())));
  t.pass('DISCONNECT with receipt completed');
});

t.test('stompit gets ERROR frames as errors', async (t) => {
  const b = await startBroker(t, { tcpPort: 0, users: { alice: 'pw' } });
  const err = await connect(t, b.tcpPort!, { login: 'alice', passcode: 'wrong' }).then(
    () => null,
    (e: Error) => e,
  );
  t.ok(err, 'a refused CONNECT reaches the connect callback as an error');
  t.equal(err?.message, 'Authentication failed', "the ERROR's message header");
  const ok = await connect(t, b.tcpPort!, { login: 'alice', passcode: 'pw' });
  const errors: Error[] = [];
  ok.on('error', (e: Error) => errors.push(e));
  ok.subscribe({ destination: '/user/bob/queue/x' }, () => undefined);
  await new Promise<void>((resolve) => ok.once('error', () => resolve()));
  t.equal(errors.length, 1, 'the forbidden SUBSCRIBE surfaced as an error');
});

t.test('a raw TCP client mistake: ERROR, then the server closes', async (t) => {
  const b = await startBroker(t, { tcpPort: 0 });
  const observer = await b.user('observer');
  await observer.subscribe('s', '/topic/alive');

  const early = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => early.close());
  early.send(raw('SEND', { destination: '/topic/alive', receipt: 'r0' }, 'too early'));
  await expectError(t, early, ErrorCode.NOT_CONNECTED, { receipt: 'r0' });

  const c = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => c.close());
  const f = await c.connect({ login: 'tcp-raw' });
  t.equal(f.headers['user-name'], 'tcp-raw');
  c.send('\n\r\n'); // heart-beats between frames are fine
  c.send('GARBAGE\n\n\0');
  await expectError(t, c, ErrorCode.UNKNOWN_COMMAND);

  const d = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => d.close());
  await d.connect({ login: 'tcp-raw2' });
  d.send(raw('SUBSCRIBE', { destination: '/topic/x', receipt: 'no-id' }));
  await expectError(t, d, ErrorCode.MISSING_HEADER, { receipt: 'no-id' });

  await b.broker.publish('/topic/alive', 'alive');
  t.equal((await observer.next('MESSAGE')).body.toString(), 'alive', 'other sessions keep working');
});

t.test('TCP heart-beats are EOLs; a silent TCP client is timed out', async (t) => {
  const b = await startBroker(t, { tcpPort: 0, heartbeat: { outgoingMs: 50, incomingMs: 50 } });
  const c = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => c.close());
  await c.connect({ login: 'beat', 'heart-beat': '0,50' });
  await c.until(() => c.heartbeats >= 2 || undefined, 3000, 'heart-beats');
  t.pass('EOL heart-beats over TCP');
  const silent = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => silent.close());
  await silent.connect({ login: 'silent', 'heart-beat': '50,0' });
  await expectError(t, silent, ErrorCode.HEARTBEAT_TIMEOUT);
});

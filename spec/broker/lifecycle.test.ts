/**
 * The public API's lifecycle: createBroker → listen → close. close() is
 * idempotent; clients are told (ERROR STOMP_ERR_SERVER_SHUTDOWN) before their
 * connection closes; sessions close before the backends do.
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { MemoryInbox, createBroker } from '../../src/index.js';
import { RawClient } from '../helpers/client.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

t.test('close(): clients get SERVER_SHUTDOWN, then the close; sessions before backends; idempotent', async (t) => {
  const events: string[] = [];
  class RecordingInbox extends MemoryInbox {
    override async close(): Promise<void> {
      events.push(`inbox closed with ${b.broker.core.sessions.size} sessions open`);
      await super.close();
    }
  }
  const b = await startBroker(t, { tcpPort: 0, inbox: new RecordingInbox() });
  const ws = await b.user('ws-user');
  await ws.subscribe('s', '/user/queue/x');
  const tcp = await RawClient.tcp(b.tcpPort!);
  t.teardown(() => tcp.close());
  await tcp.connect({ login: 'tcp-user' });
  const unconnected = await b.client(); // never sent CONNECT

  const first = b.broker.close();
  const second = b.broker.close();
  await Promise.all([
    expectError(t, ws, ErrorCode.SERVER_SHUTDOWN),
    expectError(t, tcp, ErrorCode.SERVER_SHUTDOWN),
    expectError(t, unconnected, ErrorCode.SERVER_SHUTDOWN),
  ]);
  await first;
  await second;
  await b.broker.close();
  t.pass('close() can be called again, and concurrently');
  t.equal(ws.closeCode, 1000, 'a clean WebSocket close after the ERROR');
  t.same(events, ['inbox closed with 0 sessions open'], 'backends closed after every session');
  t.equal(b.broker.core.sessions.size, 0);

  const refused = await RawClient.ws(`${b.url}/ws`).then(
    () => 'connected',
    () => 'refused',
  );
  t.equal(refused, 'refused', 'no new connections after close');
});

t.test('close() before listen() and listen() twice', async (t) => {
  const never = createBroker({ logLevel: 'silent', port: 0, host: '127.0.0.1' }, { env: false });
  await never.close();
  await never.close();
  t.pass('a broker that never listened closes');

  const b = createBroker({ logLevel: 'silent', port: 0, host: '127.0.0.1' }, { env: false });
  t.teardown(() => b.close());
  const [a1, a2] = await Promise.all([b.listen(), b.listen()]);
  t.same(a1, a2, 'listen() is idempotent too');
  t.ok(a1.port > 0);
  t.equal(a1.tcpPort, null);
});

t.test('server-side API: publish, sendToUser, kick', async (t) => {
  const b = await startBroker(t);
  await t.rejects(b.broker.publish('/nowhere/x', 'x'), /not a topic or queue/, 'publish to an unknown prefix');
  await t.rejects(b.broker.publish('/app/x', 'x'), 'publish to an application destination');
  await t.rejects(b.broker.sendToUser('', '/queue/x', 'x'), 'sendToUser needs a user');
  await t.rejects(b.broker.sendToUser('bob', 'queue/x', 'x'), 'sendToUser needs an absolute destination');

  const bob = await b.user('bob');
  await bob.subscribe('s', '/user/queue/x');
  await b.broker.publish('/user/bob/queue/x', { via: 'publish' });
  t.same(JSON.parse((await bob.next('MESSAGE')).body.toString()), { via: 'publish' }, 'publish to /user/{name}/... is sendToUser');

  const other = await b.user('carol');
  const tab2 = await b.user('bob');
  t.equal(await b.broker.kick('bob'), 2, 'both sessions of bob');
  await expectError(t, bob, ErrorCode.SESSION_KICKED);
  await expectError(t, tab2, ErrorCode.SESSION_KICKED);
  other.send(raw('SUBSCRIBE', { id: 's', destination: '/topic/x', receipt: 'still' }));
  t.equal((await other.next('RECEIPT')).headers['receipt-id'], 'still', 'other users are not kicked');
});

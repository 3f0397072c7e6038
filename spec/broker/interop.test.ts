/**
 * What other STOMP clients and test suites expect, over WebSocket and TCP:
 * STOMP 1.2 ACK/NACK need `id` (1.1 names the message by message-id and
 * subscription); RabbitMQ's `prefetch-count` (and ActiveMQ's
 * `activemq.prefetchSize`) bound a /queue consumer's unacknowledged messages;
 * NACK `requeue:false` drops (or dead-letters) instead of redelivering; the
 * TCP listener binds HOST unless STOMP_TCP_HOST says otherwise.
 */
import t from 'tap';
import { fromEnv } from '../../src/env.js';
import { ErrorCode } from '../../src/errors.js';
import { DEAD_LETTER_FROM_HEADER } from '../../src/broker/queues.js';
import { RawClient } from '../helpers/client.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';
import { core } from '../helpers/internals.js';

type Transport = 'ws' | 'tcp';

async function open(b: TestBroker, transport: Transport, login: string, version = '1.2'): Promise<RawClient> {
  const c = transport === 'ws' ? await b.client() : await RawClient.tcp(b.tcpPort!);
  if (transport === 'tcp') t.teardown(() => c.close());
  await c.connect({ login, 'accept-version': version });
  return c;
}

for (const transport of ['ws', 'tcp'] as const) {
  t.test(`${transport}: STOMP 1.2 ACK and NACK without id are coded errors; 1.1 uses message-id and subscription`, async (t) => {
    const b = await startBroker(t, { tcpPort: 0 });
    for (const command of ['ACK', 'NACK']) {
      const c = await open(b, transport, `acker-${command}`);
      await c.subscribe('q', `/queue/acks-${command}`, { ack: 'client-individual' });
      await b.broker.publish(`/queue/acks-${command}`, 'm');
      const m = await c.next('MESSAGE');
      c.send(raw(command, { 'message-id': m.headers['message-id']!, subscription: 'q', receipt: 'r' }));
      await expectError(t, c, ErrorCode.MISSING_HEADER, { receipt: 'r' });
    }
    const old = await open(b, transport, 'old', '1.1');
    await old.subscribe('q', '/queue/acks11', { ack: 'client-individual' });
    await b.broker.publish('/queue/acks11', 'm');
    const m = await old.next('MESSAGE');
    old.send(raw('ACK', { 'message-id': m.headers['message-id']!, subscription: 'q', receipt: 'ok' }));
    t.equal((await old.next()).command, 'RECEIPT', '1.1: message-id + subscription acknowledge');
  });

  t.test(`${transport}: prefetch-count bounds a consumer's unacknowledged messages; the rest go to others or wait`, async (t) => {
    const b = await startBroker(t, { tcpPort: 0 });
    const slow = await open(b, transport, 'slow');
    await slow.subscribe('s', '/queue/work', { ack: 'client-individual', 'prefetch-count': '2' });
    const fast = await open(b, transport, 'fast');
    await fast.subscribe('f', '/queue/work', { ack: 'client-individual', 'activemq.prefetchSize': '3' });
    for (let i = 0; i < 10; i++) await b.broker.publish('/queue/work', `job ${i}`);
    const slowGot = await slow.messages(2);
    const fastGot: string[] = [];
    for (let i = 0; i < 8; i++) {
      const m = await fast.next('MESSAGE');
      fastGot.push(m.body.toString());
      fast.send(raw('ACK', { id: m.headers['ack']! }));
    }
    t.equal(slowGot.length, 2, 'the slow consumer holds its 2');
    t.equal(fastGot.length, 8, 'the fast one took the other 8, at most 3 at a time');
    t.equal(slow.frames.filter((f) => f.command === 'MESSAGE').length, 0, 'nothing more went to the slow one');
    // A slot frees: the next job goes to it.
    slow.send(raw('ACK', { id: slowGot[0]!.headers['ack']! }));
    await b.broker.publish('/queue/work', 'job 10');
    const next = await Promise.race([slow.next('MESSAGE', 5000), fast.next('MESSAGE', 5000)]);
    t.equal(next.body.toString(), 'job 10');
    const bad = await open(b, transport, 'bad');
    bad.send(raw('SUBSCRIBE', { id: 'x', destination: '/queue/work', ack: 'client', 'prefetch-count': 'lots', receipt: 'p' }));
    await expectError(t, bad, ErrorCode.INVALID_HEADER, { receipt: 'p' });
  });

  t.test(`${transport}: NACK requeue:false drops the message or dead-letters it; a plain NACK redelivers`, async (t) => {
    const b = await startBroker(t, { tcpPort: 0, deadLetterQueue: '/queue/dead' });
    const a = await open(b, transport, 'a');
    await a.subscribe('a', '/queue/nack', { ack: 'client-individual' });
    const dead = await open(b, transport, 'dead');
    await dead.subscribe('d', '/queue/dead');
    await b.broker.publish('/queue/nack', 'poison');
    const m = await a.next('MESSAGE');
    a.send(raw('NACK', { id: m.headers['ack']!, requeue: 'false', receipt: 'n1' }));
    await a.next('RECEIPT');
    const d = await dead.next('MESSAGE');
    t.equal(d.body.toString(), 'poison', 'dead-lettered');
    t.equal(d.headers[DEAD_LETTER_FROM_HEADER], '/queue/nack');
    await b.broker.publish('/queue/nack', 'retry me');
    const r = await a.next('MESSAGE');
    a.send(raw('NACK', { id: r.headers['ack']! }));
    const again = await a.next('MESSAGE');
    t.equal(again.body.toString(), 'retry me', 'a plain NACK redelivers');
    t.equal(again.headers['redelivered'], 'true');
    a.send(raw('NACK', { id: again.headers['ack']!, requeue: 'maybe', receipt: 'bad' }));
    await expectError(t, a, ErrorCode.INVALID_HEADER, { receipt: 'bad' });
    t.equal(core(b.broker).queues.rejected, 1);
  });
}

t.test('NACK requeue:false without a dead-letter queue drops the message', async (t) => {
  const b = await startBroker(t);
  const a = await b.user('a');
  await a.subscribe('a', '/queue/drop', { ack: 'client' });
  await b.broker.publish('/queue/drop', 'gone');
  const m = await a.next('MESSAGE');
  a.send(raw('NACK', { id: m.headers['ack']!, requeue: 'false' }));
  await b.broker.publish('/queue/drop', 'next');
  t.equal((await a.next('MESSAGE')).body.toString(), 'next', 'the dropped one did not come back');
  t.equal(core(b.broker).queues.depth('/queue/drop'), 0);
});

t.test('the TCP listener binds HOST unless STOMP_TCP_HOST says otherwise', async (t) => {
  const b = await startBroker(t, { host: '127.0.0.1', tcpPort: 0 });
  const addr = await b.broker.listen();
  t.equal(addr.tcpHost, '127.0.0.1', 'HOST=127.0.0.1: not every interface');
  t.equal(fromEnv({ STOMP_TCP_HOST: '::1' }).tcpHost, '::1');
  t.equal((await import('../../src/config.js')).DEFAULTS.tcpHost, null, 'unset: the same as HOST');
});

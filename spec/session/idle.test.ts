/**
 * What an idle session keeps (a node holds tens of thousands of them): no
 * transaction map before a BEGIN, no unacked bookkeeping in auto mode, and a
 * subscription does not keep its SUBSCRIBE frame's headers once it is in
 * place (the authorizeSubscribe hook still sees them). bench/idle-memory.js
 * measures the bytes.
 */
import t from 'tap';
import type { Headers } from '../../src/stomp/frame.js';
import { startCore } from '../helpers/memory-connection.js';
import { raw } from '../helpers/stomp-assert.js';

t.test('an idle subscribed session holds only what it uses', async (t) => {
  const seen: Headers[] = [];
  const core = await startCore(t, {}, {
    authorizeSubscribe: async (ctx) => {
      seen.push({ ...ctx.headers });
      return true;
    },
  });
  const c = await core.user('alice');
  await c.subscribe('s1', '/user/queue/x', { 'x-extra': 'kept for the hook' });
  const s = c.session;
  const sub = s.subscriptions.get('s1')!;
  t.equal(seen[0]?.['x-extra'], 'kept for the hook', 'the hook saw the SUBSCRIBE headers');
  t.equal(seen[0]?.['destination'], '/user/queue/x');
  t.same(Object.keys(sub.headers), [], 'the subscription does not keep them');
  t.equal(sub.destination, '/user/queue/x');
  t.equal(s.transactions, null, 'no transaction map before a BEGIN');
  t.equal(s.unackedCount, 0);

  await core.broker.sendToUser('alice', '/queue/x', 'hello');
  t.equal((await c.next('MESSAGE')).body.toString(), 'hello', 'delivery works as before');

  c.send(raw('BEGIN', { transaction: 'tx' }));
  c.send(raw('SEND', { destination: '/user/alice/queue/x', transaction: 'tx' }, 'in tx'));
  await c.withReceipt({ command: 'COMMIT', headers: { transaction: 'tx' } });
  t.equal((await c.next('MESSAGE')).body.toString(), 'in tx');
  t.equal(s.transactions, null, 'made by the first BEGIN, dropped again when the last transaction ended');
});

t.test('client ack bookkeeping is made by the first such delivery', async (t) => {
  const core = await startCore(t);
  const c = await core.user('bob');
  await c.subscribe('s1', '/user/queue/y', { ack: 'client-individual' });
  t.equal(c.session.unackedCount, 0);
  t.equal(c.session.holdsUnacked(c.session.subscriptions.get('s1')!, 'nope'), false);
  await core.broker.sendToUser('bob', '/queue/y', 'one');
  const m = await c.next('MESSAGE');
  t.equal(c.session.unackedCount, 1);
  await c.withReceipt({ command: 'ACK', headers: { id: m.headers['ack']! } });
  t.equal(c.session.unackedCount, 0);
});

/**
 * Nobody speaks as someone else: a session without a user cannot SEND to any
 * /user destination; every MESSAGE that came from a client SEND carries the
 * sender's authenticated name in `x-sender` (a client's own copy of it, and
 * of `user-name`, is dropped), so a receiver can tell a peer's message from a
 * server push; `allowClientSendToUser: false` keeps clients to their own
 * user destinations.
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { startBroker } from '../helpers/broker.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

const FORGED = { 'user-name': 'admin', 'x-sender': 'admin', from: 'admin', 'content-type': 'application/json' };

t.test('a session without a user cannot SEND to /user destinations', async (t) => {
  const b = await startBroker(t);
  const bob = await b.user('bob');
  await bob.subscribe('q', '/user/queue/x');
  for (const destination of ['/user/bob/queue/x', '/user/queue/x']) {
    const anon = await b.client();
    await anon.connect();
    anon.send(raw('SEND', { destination, receipt: 'r', ...FORGED }, '{"pay":"now"}'));
    await expectError(t, anon, ErrorCode.FORBIDDEN, { receipt: 'r' });
  }
  await b.broker.sendToUser('bob', '/queue/x', 'server push');
  const m = await bob.next('MESSAGE');
  t.equal(m.body.toString(), 'server push', 'bob got nothing from the anonymous sessions, only the push after them');
  t.notOk('x-sender' in m.headers, 'a server push carries no x-sender');
});

t.test('a logged-in sender is named by the broker; forged copies are dropped', async (t) => {
  const b = await startBroker(t);
  const bob = await b.user('bob');
  await bob.subscribe('q', '/user/queue/x');
  await bob.subscribe('t', '/topic/room');
  const mallory = await b.user('mallory');
  mallory.send(raw('SEND', { destination: '/user/bob/queue/x', ...FORGED }, '{"pay":"now"}'));
  const m = await bob.next('MESSAGE');
  t.equal(m.headers['x-sender'], 'mallory', 'x-sender is the authenticated sender');
  t.notOk('user-name' in m.headers, 'a client-sent user-name is dropped');
  t.equal(m.headers['from'], 'admin', 'other application headers pass unchanged');
  mallory.send(raw('SEND', { destination: '/topic/room', 'x-sender': 'admin' }, 'hi'));
  const tm = await bob.next('MESSAGE');
  t.equal(tm.headers['x-sender'], 'mallory', 'topic messages are named too');
  const anon = await b.client();
  await anon.connect();
  anon.send(raw('SEND', { destination: '/topic/room', 'x-sender': 'admin' }, 'anon'));
  const am = await bob.next('MESSAGE');
  t.equal(am.headers['x-sender'], '', 'an anonymous sender is named by an empty x-sender');
});

t.test('allowClientSendToUser: false keeps clients to their own user destinations', async (t) => {
  const b = await startBroker(t, { allowClientSendToUser: false });
  const alice = await b.user('alice');
  await alice.subscribe('q', '/user/queue/notes');
  alice.send(raw('SEND', { destination: '/user/queue/notes' }, 'to myself'));
  const m = await alice.next('MESSAGE');
  t.equal(m.body.toString(), 'to myself', 'a user may still send to its own user destinations');
  t.equal(m.headers['x-sender'], 'alice');
  alice.send(raw('SEND', { destination: '/user/bob/queue/notes', receipt: 'other' }, 'to bob'));
  await expectError(t, alice, ErrorCode.FORBIDDEN, { receipt: 'other' });
});

t.test('STOMP_ALLOW_CLIENT_SEND_TO_USER is read from the environment', async (t) => {
  const { fromEnv } = await import('../../src/env.js');
  t.equal(fromEnv({ STOMP_ALLOW_CLIENT_SEND_TO_USER: 'false' }).allowClientSendToUser, false);
  t.equal(fromEnv({ STOMP_ALLOW_CLIENT_SEND_TO_USER: 'true' }).allowClientSendToUser, true);
  t.throws(() => fromEnv({ STOMP_ALLOW_CLIENT_SEND_TO_USER: 'maybe' }), /must be true or false/);
});

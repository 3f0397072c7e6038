/**
 * /app destinations go to handlers registered with broker.handle() (Spring's
 * @MessageMapping): body, user and {var} params; return values go to the
 * sender (sendToUser, Spring's @SendToUser), a topic (sendTo, @SendTo) or by
 * default to /topic + path; a handler that throws does not close the sender.
 */
import t from 'tap';
import type { AppMessage } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { raw } from '../helpers/stomp-assert.js';

const text = (f: { body: Buffer }): string => f.body.toString();

t.test('a handler receives body, user, params and headers', async (t) => {
  const b = await startBroker(t);
  const seen: AppMessage[] = [];
  b.broker.handle('/chat', (msg) => {
    seen.push(msg);
  });
  b.broker.handle('/rooms/{room}/say/{who}', (msg) => {
    seen.push(msg);
  });
  const alice = await b.user('alice');
  alice.send(raw('SEND', { destination: '/app/chat', 'content-type': 'application/json', 'x-app': '1', receipt: 'r1' }, '{"name":"bob","messageBody":"hi"}'));
  t.equal((await alice.next('RECEIPT')).headers['receipt-id'], 'r1');
  alice.send(raw('SEND', { destination: '/app/rooms/lobby/say/al%20ice', receipt: 'r2' }, 'plain'));
  await alice.next('RECEIPT');
  t.equal(seen.length, 2);
  const [chat, room] = seen as [AppMessage, AppMessage];
  t.equal(chat.destination, '/app/chat');
  t.equal(chat.path, '/chat');
  t.equal(chat.user, 'alice');
  t.ok(chat.sessionId, 'session id');
  t.same(chat.json(), { name: 'bob', messageBody: 'hi' });
  t.equal(chat.headers['x-app'], '1');
  t.equal(chat.headers['content-type'], 'application/json');
  t.same(chat.params, {});
  t.same(room.params, { room: 'lobby', who: 'al ice' });
  t.equal(room.text(), 'plain');
});

t.test('return values: sendToUser reaches the sender, sendTo reaches the topic, default is /topic + path', async (t) => {
  const b = await startBroker(t);
  b.broker.handle('/echo', (msg) => ({ echo: msg.text(), to: msg.user }), { sendToUser: '/queue/reply' });
  b.broker.handle('/shout', (msg) => msg.text().toUpperCase(), { sendTo: '/topic/shouts' });
  b.broker.handle('/greet', (msg) => `hello ${msg.user}`);
  b.broker.handle('/quiet', () => undefined);
  const alice = await b.user('alice');
  const aliceTab = await b.user('alice');
  const bob = await b.user('bob');
  const listener = await b.user('listener');
  await alice.subscribe('reply', '/user/queue/reply');
  await aliceTab.subscribe('reply', '/user/queue/reply');
  await bob.subscribe('reply', '/user/queue/reply');
  await listener.subscribe('shouts', '/topic/shouts');
  await listener.subscribe('greet', '/topic/greet');

  alice.send(raw('SEND', { destination: '/app/echo' }, 'ping'));
  for (const c of [alice, aliceTab]) {
    const m = await c.next('MESSAGE');
    t.equal(m.headers['destination'], '/user/queue/reply');
    t.equal(m.headers['content-type'], 'application/json');
    t.same(JSON.parse(text(m)), { echo: 'ping', to: 'alice' });
  }

  bob.send(raw('SEND', { destination: '/app/shout' }, 'hey'));
  const shout = await listener.next('MESSAGE');
  t.equal(shout.headers['destination'], '/topic/shouts');
  t.equal(text(shout), 'HEY');
  t.equal(shout.headers['content-type'], 'text/plain;charset=UTF-8');

  bob.send(raw('SEND', { destination: '/app/quiet' }, 'nothing comes back'));
  bob.send(raw('SEND', { destination: '/app/greet' }, ''));
  const greet = await listener.next('MESSAGE');
  t.equal(greet.headers['destination'], '/topic/greet', 'no option: /topic + the mapped path');
  t.equal(text(greet), 'hello bob');
  // bob's reply queue got nothing from any of this (alice's echo was hers only).
  await b.broker.sendToUser('bob', '/queue/reply', 'marker');
  t.equal(text(await bob.next('MESSAGE')), 'marker');
});

t.test('the recipe flow: /app/chat handler calls sendToUser; bob, subscribed to /user/bob/chat, shows it', async (t) => {
  const b = await startBroker(t);
  b.broker.handle('/chat', async (msg) => {
    const { name, destination, messageBody } = msg.json<{ name: string; destination: string; messageBody: string }>();
    await b.broker.sendToUser(name, destination, messageBody);
  });
  const alice = await b.user('alice');
  const bob = await b.user('bob');
  await bob.subscribe('sub-0', '/user/bob/chat');
  alice.send(raw('SEND', { destination: '/app/chat' }, JSON.stringify({ name: 'bob', destination: '/chat', messageBody: 'hi' })));
  const m = await bob.next('MESSAGE');
  t.equal(m.headers['destination'], '/user/bob/chat');
  t.equal(text(m), 'hi');
});

t.test('a handler that throws does not close the sender', async (t) => {
  const b = await startBroker(t);
  let calls = 0;
  b.broker.handle('/boom', () => {
    calls++;
    throw new Error('application bug');
  });
  b.broker.handle('/boom-async', async () => {
    calls++;
    throw new Error('async application bug');
  });
  const c = await b.user('sender');
  await c.subscribe('s', '/topic/after');
  c.send(raw('SEND', { destination: '/app/boom', receipt: 'b1' }, 'x'));
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'b1', 'the SEND is still confirmed');
  c.send(raw('SEND', { destination: '/app/boom-async', receipt: 'b2' }, 'x'));
  t.equal((await c.next('RECEIPT')).headers['receipt-id'], 'b2');
  c.send(raw('SEND', { destination: '/topic/after' }, 'still connected'));
  t.equal(text(await c.next('MESSAGE')), 'still connected');
  t.equal(calls, 2);
  t.notOk(c.closed);
  t.notOk(c.frames.some((f) => f.command === 'ERROR'), 'no ERROR frame');
  t.equal(b.broker.core.counters.handlerErrors, 2, 'failures are counted');
});

/**
 * Destinations as Spring has them, over real WebSockets: /topic pub/sub
 * (exact and Ant-pattern subscriptions, never kept), /queue point-to-point
 * (kept, bounded, while nobody subscribes; flushed on subscribe), and /app
 * destinations handled by broker.handle() (Spring's @MessageMapping): body,
 * user and {var} params; return values go to the sender (sendToUser,
 * @SendToUser), a topic (sendTo, @SendTo) or by default to /topic + path; a
 * handler that throws does not close the sender.
 */
import t from 'tap';
import { DEFAULTS } from '../../src/config.js';
import type { AppMessage } from '../../src/index.js';
import { startBroker } from '../helpers/broker.js';
import { raw } from '../helpers/stomp-assert.js';
import { core } from '../helpers/internals.js';
import { waitFor } from '../helpers/wait.js';

const text = (f: { body: Buffer }): string => f.body.toString();

t.test('/topic: every subscriber of every session gets each message', async (t) => {
  const b = await startBroker(t);
  const a = await b.user('a');
  const c = await b.user('c');
  const sender = await b.user('sender');
  await a.subscribe('sub-a', '/topic/news');
  await c.subscribe('sub-c', '/topic/news');
  await sender.subscribe('own', '/topic/news');
  sender.send(raw('SEND', { destination: '/topic/news', 'content-type': 'text/plain', 'x-custom': 'kept', receipt: 'not-passed-on' }, 'extra!'));
  const [ma, mc, ms] = await Promise.all([a.next('MESSAGE'), c.next('MESSAGE'), sender.next('MESSAGE')]);
  for (const [m, sub] of [
    [ma!, 'sub-a'],
    [mc!, 'sub-c'],
    [ms!, 'own'],
  ] as const) {
    t.equal(text(m), 'extra!');
    t.equal(m.headers['destination'], '/topic/news');
    t.equal(m.headers['subscription'], sub, 'subscription is the receiving subscription id');
    t.ok(m.headers['message-id'], 'message-id');
    t.equal(m.headers['content-type'], 'text/plain', 'content-type passed on');
    t.equal(m.headers['content-length'], '6');
    t.equal(m.headers['x-custom'], 'kept', 'application headers passed on');
    t.notOk('receipt' in m.headers, 'the SEND receipt header is not passed on');
  }
  t.equal(ma!.headers['message-id'], mc!.headers['message-id'], 'one message, one id');
  // UNSUBSCRIBE stops delivery.
  await a.subscribe('other', '/topic/other');
  a.send(raw('UNSUBSCRIBE', { id: 'sub-a', receipt: 'u' }));
  await a.next('RECEIPT');
  await b.broker.publish('/topic/news', 'after unsubscribe');
  t.equal(text(await c.next('MESSAGE')), 'after unsubscribe');
  await b.broker.publish('/topic/other', 'marker');
  t.equal(text(await a.next('MESSAGE')), 'marker', 'nothing arrived after UNSUBSCRIBE');
});

t.test('/topic: Ant-pattern subscriptions', async (t) => {
  const b = await startBroker(t);
  const star = await b.user('star');
  const deep = await b.user('deep');
  const room = await b.user('room');
  await star.subscribe('s', '/topic/a.*');
  await deep.subscribe('s', '/topic/**');
  await room.subscribe('s', '/topic/room/{id}');
  await b.broker.publish('/topic/b.x', 'b.x');
  await b.broker.publish('/topic/a.one', 'a.one');
  await b.broker.publish('/topic/room/1/extra', 'room/1/extra');
  await b.broker.publish('/topic/room/7', 'room/7');
  const s = await star.next('MESSAGE');
  t.equal(text(s), 'a.one', '/topic/a.* matched /topic/a.one and not /topic/b.x');
  t.equal(s.headers['destination'], '/topic/a.one', 'MESSAGE destination is the concrete one');
  t.equal(s.headers['subscription'], 's');
  t.same((await deep.messages(4)).map(text), ['b.x', 'a.one', 'room/1/extra', 'room/7'], '/topic/** matched all, in order');
  t.equal(text(await room.next('MESSAGE')), 'room/7', '{id} matches one segment only');
  await b.broker.publish('/topic/a.marker', 'end');
  t.equal(text(await star.next('MESSAGE')), 'end');
  await b.broker.publish('/topic/room/end', 'end');
  t.equal(text(await room.next('MESSAGE')), 'end');
});

t.test('/topic: messages are never kept for later subscribers', async (t) => {
  const b = await startBroker(t);
  await b.broker.publish('/topic/late', 'nobody listening');
  const sender = await b.user('sender');
  sender.send(raw('SEND', { destination: '/topic/late', receipt: 'sent' }, 'nobody either'));
  await sender.next('RECEIPT');
  const c = await b.user('late');
  await c.subscribe('s', '/topic/late');
  await b.broker.publish('/topic/late', 'live');
  t.equal(text(await c.next('MESSAGE')), 'live', 'only what was published after subscribing');
});

t.test('server-side publish: content types', async (t) => {
  const b = await startBroker(t);
  const c = await b.user('c');
  await c.subscribe('s', '/topic/types');
  await b.broker.publish('/topic/types', { a: 1, list: [1, 2] });
  await b.broker.publish('/topic/types', 'plain text é');
  await b.broker.publish('/topic/types', Buffer.from([0, 1, 2, 0]), { 'content-type': 'application/octet-stream' });
  const [json, str, bin] = await c.messages(3);
  t.equal(json!.headers['content-type'], 'application/json');
  t.same(JSON.parse(text(json!)), { a: 1, list: [1, 2] });
  t.equal(str!.headers['content-type'], 'text/plain;charset=UTF-8');
  t.equal(text(str!), 'plain text é');
  t.equal(str!.headers['content-length'], String(Buffer.byteLength('plain text é')));
  t.equal(bin!.headers['content-type'], 'application/octet-stream');
  t.same([...bin!.body], [0, 1, 2, 0], 'binary bodies with NULs survive');
});

t.test('/queue: kept while nobody subscribes (bounded), flushed in order on subscribe', async (t) => {
  const b = await startBroker(t, { limits: { maxQueueDepth: 3 } });
  const producer = await b.user('producer');
  for (let i = 1; i <= 5; i++) producer.send(raw('SEND', { destination: '/queue/backlog' }, `m${i}`));
  producer.send(raw('SEND', { destination: '/queue/backlog', receipt: 'all-sent' }, 'm6'));
  await producer.next('RECEIPT');
  const c = await b.user('consumer');
  await c.subscribe('s', '/queue/backlog');
  const kept = await c.messages(3);
  t.same(kept.map(text), ['m4', 'm5', 'm6'], 'at most maxQueueDepth kept (the newest), in order');
  for (const m of kept) t.equal(m.headers['destination'], '/queue/backlog');
  await b.broker.publish('/queue/backlog', 'marker');
  t.equal(text(await c.next('MESSAGE')), 'marker', 'nothing more was kept');
  t.equal(DEFAULTS.limits.maxQueueDepth, 10_000);
});

t.test('/queue: messages a consumer left unacked go back to their places in the backlog, not behind newer ones', async (t) => {
  const b = await startBroker(t);
  const a = await b.user('slow');
  await a.subscribe('s', '/queue/order', { ack: 'client-individual', 'prefetch-count': '2' });
  const producer = await b.user('producer');
  for (let i = 1; i <= 6; i++) producer.send(raw('SEND', { destination: '/queue/order', receipt: `r${i}` }, `m${i}`));
  for (let i = 1; i <= 6; i++) await producer.next('RECEIPT');
  t.same((await a.messages(2)).map(text), ['m1', 'm2'], 'prefetch 2: the rest wait');
  a.close();
  await waitFor(() => core(b.broker).queues.depth('/queue/order') === 6, { what: 'm1 and m2 back in the backlog' });
  const c = await b.user('next');
  await c.subscribe('s', '/queue/order');
  const got = await c.messages(6);
  t.same(got.map(text), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'], 'in their original order');
  t.same(got.map((m) => m.headers['redelivered'] ?? ''), ['true', 'true', '', '', '', '']);
});

t.test('/queue: a queue with a subscriber does not keep messages', async (t) => {
  const b = await startBroker(t);
  const first = await b.user('first');
  await first.subscribe('s', '/queue/direct');
  await b.broker.publish('/queue/direct', 'to first');
  t.equal(text(await first.next('MESSAGE')), 'to first');
  const second = await b.user('second');
  await second.subscribe('s', '/queue/direct');
  t.equal(core(b.broker).queues.depth('/queue/direct'), 0, 'nothing waiting');
});

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
  t.equal(core(b.broker).counters.handlerErrors, 2, 'failures are counted');
});

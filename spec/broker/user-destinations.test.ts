/**
 * User destinations as Spring has them: sendToUser and client SENDs to
 * /user/{name}/... reach every session of that user subscribed to
 * /user/queue/x (MESSAGE destination as subscribed); a session never receives
 * another user's messages; the inbox keeps what an offline user missed and
 * replays it on subscribe. Routing needs no socket: the sessions are in-memory
 * connections on the broker core (spec/helpers/memory-connection.ts).
 */
import t from 'tap';
import { ErrorCode } from '../../src/errors.js';
import { DEFAULTS } from '../../src/config.js';
import { DestinationResolver } from '../../src/broker/destinations.js';
import { IdSequence } from '../../src/broker/ids.js';
import { startCore } from '../helpers/memory-connection.js';
import { expectError, raw } from '../helpers/stomp-assert.js';

const text = (f: { body: Buffer }): string => f.body.toString();

t.test('sendToUser reaches every tab of the user subscribed to /user/queue/x, and nobody else', async (t) => {
  const core = await startCore(t);
  const tab1 = await core.user('alice');
  const tab2 = await core.user('alice');
  const tab3 = await core.user('alice'); // not subscribed
  const bob = await core.user('bob');
  await tab1.subscribe('q1', '/user/queue/x');
  await tab2.subscribe('q2', '/user/queue/x');
  await tab3.subscribe('other', '/user/queue/other');
  await bob.subscribe('q', '/user/queue/x');
  await core.broker.sendToUser('alice', '/queue/x', { n: 1 }, { 'x-trace': 'abc' });
  for (const [tab, sub] of [
    [tab1, 'q1'],
    [tab2, 'q2'],
  ] as const) {
    const m = await tab.next('MESSAGE');
    t.equal(m.headers['destination'], '/user/queue/x', 'destination is the subscribed /user/queue/x');
    t.equal(m.headers['subscription'], sub);
    t.equal(m.headers['content-type'], 'application/json');
    t.equal(m.headers['x-trace'], 'abc', 'extra headers passed on');
    t.same(JSON.parse(text(m)), { n: 1 });
  }
  await core.broker.sendToUser('alice', '/queue/other', 'text body');
  const o = await tab3.next('MESSAGE');
  t.equal(text(o), 'text body', 'the unsubscribed tab only gets what it subscribed to');
  t.equal(o.headers['content-type'], 'text/plain;charset=UTF-8');
  t.equal(o.headers['destination'], '/user/queue/other');
  await core.broker.sendToUser('bob', '/queue/x', 'for bob');
  t.equal(text(await bob.next('MESSAGE')), 'for bob', "bob never got alice's message");
  // The "/user" form of the destination works server side too.
  await core.broker.sendToUser('alice', '/user/queue/x', 'prefixed');
  t.equal(text(await tab1.next('MESSAGE')), 'prefixed');
  t.equal(text(await tab2.next('MESSAGE')), 'prefixed');
});

t.test('subscribing with the own name: /user/{self}/chat receives what is sent to /chat', async (t) => {
  const core = await startCore(t);
  const bob = await core.user('bob');
  await bob.subscribe('chat', '/user/bob/chat');
  await core.broker.sendToUser('bob', '/chat', { from: 'alice', text: 'hi' });
  const m = await bob.next('MESSAGE');
  t.equal(m.headers['destination'], '/user/bob/chat', 'MESSAGE destination as subscribed');
  t.equal(m.headers['subscription'], 'chat');
  t.same(JSON.parse(text(m)), { from: 'alice', text: 'hi' });
});

t.test('a client SEND to /user/{name}/queue/x reaches that user', async (t) => {
  const core = await startCore(t);
  const alice = await core.user('alice');
  const bob1 = await core.user('bob');
  const bob2 = await core.user('bob');
  await bob1.subscribe('s', '/user/queue/inbox');
  await bob2.subscribe('s', '/user/queue/inbox');
  await alice.subscribe('s', '/user/queue/inbox');
  alice.send(raw('SEND', { destination: '/user/bob/queue/inbox', 'content-type': 'text/plain' }, 'hello bob'));
  for (const c of [bob1, bob2]) {
    const m = await c.next('MESSAGE');
    t.equal(text(m), 'hello bob');
    t.equal(m.headers['destination'], '/user/queue/inbox');
  }
  // A SEND to the own /user/queue/... form reaches the sender's own sessions.
  alice.send(raw('SEND', { destination: '/user/queue/inbox' }, 'note to self'));
  t.equal(text(await alice.next('MESSAGE')), 'note to self', "alice got only her own note, not bob's message");
});

t.test('a session never receives another user\'s messages', async (t) => {
  const core = await startCore(t);
  const bob = await core.user('bob');
  await bob.subscribe('s', '/user/queue/x');
  const observer = await core.user('observer');
  await observer.subscribe('s', '/topic/alive');

  const bobTab = core.open();
  const bobSession = (await bobTab.connect({ login: 'bob' })).headers['session']!;

  const refused: Array<[string, string, Record<string, string>]> = [
    ['another user in the path', '/user/bob/queue/x', { login: 'mallory' }],
    ['another user, /chat form', '/user/bob/chat', { login: 'mallory' }],
    ["Spring's per-session form (example id)", '/queue/x-user1a2b3c', { login: 'mallory' }],
    ["Spring's per-session form (bob's real session id)", `/queue/x-user${bobSession}`, { login: 'mallory' }],
    ['anonymous session, /user/queue/x', '/user/queue/x', {}],
    ['anonymous session, /user/bob/queue/x', '/user/bob/queue/x', {}],
  ];
  let n = 0;
  for (const [name, destination, headers] of refused) {
    await t.test(name, async (t) => {
      const c = core.open();
      await c.connect(headers);
      c.send(raw('SUBSCRIBE', { id: 'steal', destination, receipt: 'sub' }));
      await expectError(t, c, ErrorCode.FORBIDDEN, { receipt: 'sub' });
      const marker = `alive-${++n}`;
      await core.broker.publish('/topic/alive', marker);
      t.equal(text(await observer.next('MESSAGE')), marker, 'other sessions keep working');
    });
  }
  await core.broker.sendToUser('bob', '/queue/x', 'only for bob');
  t.equal(text(await bob.next('MESSAGE')), 'only for bob');
});

t.test('inbox: an offline user gets what was sent to /queue/x on subscribe, in order, marked x-replay', async (t) => {
  const core = await startCore(t);
  for (const n of [1, 2, 3]) await core.broker.sendToUser('carol', '/queue/x', { n });
  await core.broker.sendToUser('carol', '/chat', 'not an inbox destination');
  await core.broker.publish('/topic/carol', 'topics are never kept');
  const carol = await core.user('carol');
  await carol.subscribe('t', '/topic/carol');
  await carol.subscribe('chat', '/user/carol/chat');
  await carol.subscribe('x', '/user/queue/x');
  const replayed = await carol.messages(3);
  t.same(
    replayed.map((m) => JSON.parse(text(m)).n),
    [1, 2, 3],
    'replayed in order',
  );
  for (const m of replayed) {
    t.equal(m.headers['x-replay'], 'true', 'x-replay:true');
    t.equal(m.headers['destination'], '/user/queue/x');
    t.equal(m.headers['subscription'], 'x');
    t.equal(m.headers['content-type'], 'application/json');
  }
  await core.broker.sendToUser('carol', '/queue/x', 'live');
  const live = await carol.next('MESSAGE');
  t.equal(text(live), 'live', 'nothing else was kept (no /chat, no /topic message)');
  t.notOk('x-replay' in live.headers, 'live messages are not marked');

  // Replayed once only: a new session of carol gets nothing old.
  carol.hangup();
  await carol.waitClosed();
  const again = await core.user('carol');
  await again.subscribe('x', '/user/queue/x');
  await core.broker.sendToUser('carol', '/queue/x', 'marker');
  const m = await again.next('MESSAGE');
  t.equal(text(m), 'marker', 'the inbox was emptied by the first replay');
});

t.test('inbox: a connected user without the subscription gets the message when subscribing', async (t) => {
  const core = await startCore(t);
  const dave = await core.user('dave');
  await core.broker.sendToUser('dave', '/queue/later', 'kept for dave');
  await dave.subscribe('l', '/user/queue/later');
  const m = await dave.next('MESSAGE');
  t.equal(text(m), 'kept for dave');
  t.equal(m.headers['x-replay'], 'true');
});

t.test("every session id the broker generates is refused in Spring's /queue/x-user<sessionId> form", async (t) => {
  const resolver = new DestinationResolver(DEFAULTS);
  // A random prefix may have no digit at all: the ids must still be recognised.
  for (const prefix of ['abcdefgh', 'zzzzzzzz', '12345678']) {
    const ids = new IdSequence(prefix);
    let missed = 0;
    for (let i = 0; i < 500; i++) {
      const id = ids.next();
      const d = resolver.classify(`/queue/x-user${id}`);
      if (!(d.kind === 'invalid' && d.forbidden)) missed++;
    }
    t.equal(missed, 0, `prefix ${prefix}: all 500 ids refused`);
  }
  const ok = resolver.classify('/queue/power-users');
  t.equal(ok.kind, 'queue', 'ordinary names containing "-user" are not refused');
});

t.test('client SEND to /user/{name}/chat; allowClientSendToUser:false refuses client SENDs to users', async (t) => {
  const core = await startCore(t);
  const alice = await core.user('alice');
  const bob = await core.user('bob');
  await bob.subscribe('chat', '/user/bob/chat');
  alice.send(raw('SEND', { destination: '/user/bob/chat' }, 'direct'));
  const m = await bob.next('MESSAGE');
  t.equal(text(m), 'direct');
  t.equal(m.headers['destination'], '/user/bob/chat');

  const locked = await startCore(t, { allowClientSendToUser: false });
  const a2 = await locked.user('alice');
  const b2 = await locked.user('bob');
  await b2.subscribe('q', '/user/queue/x');
  a2.send(raw('SEND', { destination: '/user/bob/queue/x', receipt: 's' }, 'nope'));
  await expectError(t, a2, ErrorCode.FORBIDDEN, { receipt: 's' });
  await locked.broker.sendToUser('bob', '/queue/x', 'server code still can');
  t.equal(text(await b2.next('MESSAGE')), 'server code still can');
});

t.test('client acks: a message is written ahead to the inbox once delivered, and only then (a repeat writes nothing)', async (t) => {
  const core = await startCore(t);
  const alice = await core.user('alice');
  await alice.subscribe('q', '/user/queue/x', { ack: 'client-individual' });
  const env = {
    kind: 'user' as const,
    user: 'alice',
    id: 'env-1',
    destination: '/queue/x',
    headers: {},
    body: Buffer.from('once'),
    hops: 0,
    origin: 'elsewhere',
    ts: Date.now(),
  };
  // The same envelope twice, as an at-least-once bus may hand it over.
  await core.broker.dispatcher.receive(env);
  await core.broker.dispatcher.receive({ ...env });
  const m = await alice.next('MESSAGE');
  t.equal(m.body.toString(), 'once');
  t.equal((await core.broker.presence('alice')).inbox, 1, 'one write-ahead copy, not one per offer');
  await alice.withReceipt({ command: 'ACK', headers: { id: m.headers['ack']! } });
  t.equal((await core.broker.presence('alice')).inbox, 0, 'removed by the ACK');
  t.equal(alice.frames.filter((f) => f.command === 'MESSAGE').length, 0, 'no second MESSAGE');
});

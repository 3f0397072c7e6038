/**
 * LocalUsers, the index of this node's users: sessions per user and user
 * destination subscriptions per path. One session and one subscription per
 * path are held without a Set; these check that more than one behaves as a
 * Set did (insertion order, no duplicates, back to one and to none).
 */
import t from 'tap';
import { compilePattern, isPattern } from '../../src/broker/pattern.js';
import { LocalUsers } from '../../src/broker/users.js';
import type { UserRoute } from '../../src/broker/routes.js';
import type { Session } from '../../src/session/session.js';
import type { Subscription } from '../../src/session/subscription.js';

/** LocalUsers only compares sessions by identity and reads/writes `sub.route`. */
const session = (name: string): Session => ({ name }) as unknown as Session;
const subscription = (name: string): Subscription => ({ name, route: null }) as unknown as Subscription;
const route = (user: string, path: string): UserRoute => ({ kind: 'user', user, path, pattern: isPattern(path) ? compilePattern(path) : null, userPrefix: '/user' });

t.test('sessions of a user: one, several in order, back to one, then none', async (t) => {
  const users = new LocalUsers();
  const [a, b, c] = [session('a'), session('b'), session('c')];
  t.same(users.sessionsOf('alice'), []);
  users.addSession('alice', a);
  users.addSession('alice', a); // a Set ignores a repeat
  t.same(users.sessionsOf('alice'), [a]);
  t.ok(users.has('alice'));
  users.addSession('alice', b);
  users.addSession('alice', c);
  users.addSession('alice', b);
  t.same(users.sessionsOf('alice'), [a, b, c], 'insertion order, no duplicates');
  t.equal(users.removeSession('alice', b), false);
  t.equal(users.removeSession('alice', a), false);
  t.same(users.sessionsOf('alice'), [c]);
  users.addSession('alice', a);
  t.same(users.sessionsOf('alice'), [c, a], 'a session added again comes last');
  t.equal(users.removeSession('alice', session('stranger')), false, 'an unknown session changes nothing');
  t.same(users.sessionsOf('alice'), [c, a]);
  t.equal(users.removeSession('alice', c), false);
  t.equal(users.removeSession('alice', a), true, 'the last session');
  t.notOk(users.has('alice'));
  t.equal(users.userCount, 0);
  t.equal(users.removeSession('alice', a), true, 'a user without sessions');
});

t.test('the sessions list is a copy', async (t) => {
  const users = new LocalUsers();
  const a = session('a');
  users.addSession('alice', a);
  users.sessionsOf('alice').push(session('x'));
  users.addSession('alice', session('b'));
  const list = users.sessionsOf('alice');
  list.length = 0;
  t.equal(users.sessionsOf('alice').length, 2);
});

t.test('subscriptions per path: one, several, removed in any order', async (t) => {
  const users = new LocalUsers();
  users.addSession('alice', session('a'));
  const [s1, s2, s3] = [subscription('s1'), subscription('s2'), subscription('s3')];
  users.addSubscription(s1, route('alice', '/queue/x'));
  t.same(users.match('alice', '/queue/x'), [s1]);
  t.same(users.match('alice', '/queue/y'), []);
  t.same(users.match('bob', '/queue/x'), []);
  users.addSubscription(s2, route('alice', '/queue/x'));
  users.addSubscription(s3, route('alice', '/queue/x'));
  t.same(users.match('alice', '/queue/x'), [s1, s2, s3]);
  users.removeSubscription(s2, route('alice', '/queue/x'));
  t.same(users.match('alice', '/queue/x'), [s1, s3]);
  users.removeSubscription(s1, route('alice', '/queue/x'));
  t.same(users.match('alice', '/queue/x'), [s3], 'back to one');
  users.addSubscription(s1, route('alice', '/queue/x'));
  t.same(users.match('alice', '/queue/x'), [s3, s1]);
  users.removeSubscription(s1, route('alice', '/queue/x'));
  users.removeSubscription(s3, route('alice', '/queue/x'));
  t.same(users.match('alice', '/queue/x'), []);
  users.removeSubscription(s3, route('alice', '/queue/x')); // again: nothing happens
  t.same(users.match('alice', '/queue/x'), []);
});

t.test('pattern subscriptions', async (t) => {
  const users = new LocalUsers();
  users.addSession('alice', session('a'));
  const exact = subscription('exact');
  const wild = subscription('wild');
  users.addSubscription(exact, route('alice', '/queue/a.b'));
  users.addSubscription(wild, route('alice', '/queue/a.*'));
  t.same(users.match('alice', '/queue/a.b'), [exact, wild]);
  t.same(users.match('alice', '/queue/a.c'), [wild]);
  users.removeSubscription(wild, route('alice', '/queue/a.*'));
  t.same(users.match('alice', '/queue/a.c'), []);
  t.same(users.match('alice', '/queue/a.b'), [exact]);
});

t.test('a subscription before any session keeps the user until its last session goes', async (t) => {
  const users = new LocalUsers();
  const s = subscription('s');
  users.addSubscription(s, route('carol', '/queue/x'));
  t.ok(users.has('carol'));
  t.same(users.sessionsOf('carol'), []);
  const a = session('a');
  users.addSession('carol', a);
  t.same(users.match('carol', '/queue/x'), [s]);
  t.equal(users.removeSession('carol', a), true);
  t.notOk(users.has('carol'));
});

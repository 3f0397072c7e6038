/**
 * RedisInbox against a private redis-server: the Inbox conformance suite, then
 * what is specific to Redis (stream layout, key TTL, unreadable entries,
 * client ownership).
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { RedisInbox } from '../../src/cluster/redis/inbox.js';
import { decodeEnvelope } from '../../src/cluster/envelope.js';
import type { ClusterLogger } from '../../src/cluster/errors.js';
import { inboxSuite } from '../conformance/inbox.js';
import { makeEnvelope, sameEnvelope, uid } from '../conformance/fixtures.js';
import { deleteKeys, startRedis, uniquePrefix } from '../helpers/services.js';

const server = await startRedis();
t.teardown(() => server.stop());

const probe = new Redis(server.url);
t.teardown(() => probe.quit());

inboxSuite(t, 'redis', async () => {
  const prefix = uniquePrefix();
  return {
    create: (limits) => new RedisInbox({ redis: server.url, prefix, limits }),
    cleanup: () => deleteKeys(probe, prefix),
  };
});

t.test('redis inbox: one stream per user, binary envelope in one field, key TTL = maxAgeMs', async (t) => {
  const prefix = uniquePrefix();
  const inbox = new RedisInbox({ redis: server.url, prefix, limits: { maxAgeMs: 60_000 } });
  t.teardown(async () => {
    await inbox.close();
    await deleteKeys(probe, prefix);
  });
  const env = makeEnvelope({ user: 'alice', body: Buffer.from([0, 1, 2, 255]) });
  await inbox.append('alice', env);
  const key = `${prefix}:{u:alice}:inbox`;
  t.equal(await probe.type(key), 'stream');
  const pttl = await probe.pttl(key);
  t.ok(pttl > 0 && pttl <= 60_000, `the key expires with the age limit (${pttl} ms)`);
  const [[, fields]] = (await probe.xrangeBuffer(key, '-', '+')) as [[Buffer, Buffer[]]];
  t.equal(fields[0]!.toString(), 'e');
  sameEnvelope(t, decodeEnvelope(fields[1]!), env, 'stored with the envelope codec');

  const [entry] = await inbox.read('alice');
  await inbox.remove('alice', [entry!.entryId]);
  t.equal(await probe.exists(key), 0, 'the emptied stream is deleted');
});

t.test('redis inbox: an unreadable entry is logged and dropped, the rest still read', async (t) => {
  const prefix = uniquePrefix();
  const errors: object[] = [];
  const logger: ClusterLogger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (obj) => void errors.push(obj),
  };
  const inbox = new RedisInbox({ redis: server.url, prefix, logger });
  t.teardown(async () => {
    await inbox.close();
    await deleteKeys(probe, prefix);
  });
  const user = uid('alice');
  const good = makeEnvelope({ user });
  await probe.xadd(`${prefix}:{u:${user}}:inbox`, '*', 'e', 'not an envelope');
  await inbox.append(user, good);
  const entries = await inbox.read(user);
  t.same(
    entries.map((e) => e.env.id),
    [good.id],
  );
  t.equal(errors.length, 1, 'logged once');
  t.equal(await inbox.depth(user), 1, 'the bad entry was removed');
});

t.test('redis inbox: a client passed in is shared, not closed', async (t) => {
  const prefix = uniquePrefix();
  const client = new Redis(server.url);
  t.teardown(async () => {
    await client.quit();
    await deleteKeys(probe, prefix);
  });
  const inbox = new RedisInbox({ redis: client, prefix });
  await inbox.append('bob', makeEnvelope({ user: 'bob' }));
  await inbox.close();
  await inbox.close();
  t.equal(client.status, 'ready');
  t.equal(await new RedisInbox({ redis: client, prefix }).depth('bob'), 1);
});

t.test('redis inbox: bad limits fail at construction', async (t) => {
  t.throws(() => new RedisInbox({ redis: server.url, limits: { maxLength: 0 } }), RangeError);
  t.throws(() => new RedisInbox({ redis: server.url, limits: { maxAgeMs: -1 } }), RangeError);
});

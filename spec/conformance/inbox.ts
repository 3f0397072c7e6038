/**
 * Conformance suite every Inbox implementation passes
 * (docs/design.md "Conformance suites and real services").
 *
 *   inboxSuite(t, 'memory', async () => ({
 *     create: (limits) => new MemoryInbox(limits),
 *     cleanup: async () => {},
 *   }));
 *
 * `create(limits)` returns an inbox with those limits (defaults for the rest).
 * The factory is called once per subtest; each subtest uses fresh user names.
 * The suite closes what it created, then calls `cleanup()`.
 */
import type { Inbox, InboxLimits, UserEnvelope } from '../../src/cluster/types.js';
import { waitFor } from '../helpers/wait.js';
import { type Tap, binaryBody, makeEnvelope, sameEnvelope, uid } from './fixtures.js';

export interface InboxFixture {
  create(limits?: Partial<InboxLimits>): Inbox | Promise<Inbox>;
  cleanup(): Promise<void>;
}

export type InboxFactory = () => Promise<InboxFixture>;

export function inboxSuite(t: Tap, name: string, factory: InboxFactory): void {
  async function setup(tt: Tap): Promise<{ create: (limits?: Partial<InboxLimits>) => Promise<Inbox> }> {
    const fx = await factory();
    const made: Inbox[] = [];
    tt.teardown(async () => {
      for (const i of made) await i.close();
      await fx.cleanup();
    });
    return {
      create: async (limits) => {
        const i = await fx.create(limits);
        made.push(i);
        return i;
      },
    };
  }

  const envsFor = (user: string, n: number): UserEnvelope[] =>
    Array.from({ length: n }, (_, i) => makeEnvelope({ user, id: uid(`m${i}`), body: Buffer.from(`body ${i}`), ts: 1000 + i }));

  t.test(`${name} inbox: append then read, oldest first`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create();
    const user = uid('alice');
    const envs = envsFor(user, 5);
    const appended: string[] = [];
    for (const e of envs) appended.push(await inbox.append(user, e));

    const entries = await inbox.read(user);
    t.equal(entries.length, 5);
    t.same(
      entries.map((e) => e.entryId),
      appended,
      'append() resolves with the entry id read() reports',
    );
    entries.forEach((entry, i) => sameEnvelope(t, entry.env, envs[i]!, `entry ${i}`));
    t.equal(new Set(entries.map((e) => e.entryId)).size, 5, 'entry ids are distinct');
    t.ok(entries.every((e) => typeof e.entryId === 'string' && e.entryId.length > 0), 'entry ids are strings');
    t.same(
      (await inbox.read(user, 2)).map((e) => e.env.id),
      envs.slice(0, 2).map((e) => e.id),
      'read(max) gives the oldest max entries',
    );
    t.same(
      (await inbox.read(user)).map((e) => e.env.id),
      envs.map((e) => e.id),
      'reading does not consume',
    );
    t.equal(await inbox.depth(user), 5, 'depth');
  });

  t.test(`${name} inbox: remove by entry id`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create();
    const user = uid('alice');
    const envs = envsFor(user, 5);
    for (const e of envs) await inbox.append(user, e);
    const entries = await inbox.read(user);

    await inbox.remove(user, [entries[0]!.entryId, entries[2]!.entryId]);
    t.same(
      (await inbox.read(user)).map((e) => e.env.id),
      [envs[1]!.id, envs[3]!.id, envs[4]!.id],
      'the others stay, in order',
    );
    t.equal(await inbox.depth(user), 3);

    await inbox.remove(user, [entries[0]!.entryId]);
    await inbox.remove(user, []);
    t.equal(await inbox.depth(user), 3, 'removing already removed ids (or none) is a no-op');

    await inbox.remove(
      user,
      entries.map((e) => e.entryId),
    );
    t.same(await inbox.read(user), [], 'all gone');
    t.equal(await inbox.depth(user), 0);

    await inbox.append(user, envs[0]!);
    t.same(
      (await inbox.read(user)).map((e) => e.env.id),
      [envs[0]!.id],
      'an emptied inbox takes new entries',
    );
  });

  t.test(`${name} inbox: unknown user`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create();
    const user = uid('nobody');
    t.same(await inbox.read(user), []);
    t.equal(await inbox.depth(user), 0);
    await inbox.remove(user, ['1-0']);
    t.pass('remove on an empty inbox is a no-op');
  });

  t.test(`${name} inbox: users are isolated`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create();
    const [alice, bob] = [uid('alice'), uid('bob')];
    const a = envsFor(alice, 3);
    const b = envsFor(bob, 2);
    for (let i = 0; i < 3; i++) {
      await inbox.append(alice, a[i]!);
      if (b[i]) await inbox.append(bob, b[i]!);
    }
    t.same(
      (await inbox.read(alice)).map((e) => e.env.id),
      a.map((e) => e.id),
    );
    t.same(
      (await inbox.read(bob)).map((e) => e.env.id),
      b.map((e) => e.id),
    );
    t.equal(await inbox.depth(alice), 3);
    t.equal(await inbox.depth(bob), 2);

    // (Entry ids are only meaningful per user: alice's ids may also name entries
    // of bob's inbox, so the suite never removes one user's ids from another.)
    const aliceIds = (await inbox.read(alice)).map((e) => e.entryId);
    await inbox.remove(alice, aliceIds);
    t.equal(await inbox.depth(alice), 0);
    t.equal(await inbox.depth(bob), 2, "emptying alice's inbox leaves bob's");
  });

  t.test(`${name} inbox: maxLength keeps the newest entries`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create({ maxLength: 3 });
    const user = uid('alice');
    const envs = envsFor(user, 7);
    for (const e of envs) await inbox.append(user, e);
    t.same(
      (await inbox.read(user)).map((e) => e.env.id),
      envs.slice(4).map((e) => e.id),
      'the oldest were dropped',
    );
    t.equal(await inbox.depth(user), 3);
  });

  t.test(`${name} inbox: entries older than maxAgeMs expire`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create({ maxAgeMs: 200 });
    const user = uid('alice');
    const [old, fresh] = envsFor(user, 2);
    await inbox.append(user, old!);
    t.same(
      (await inbox.read(user)).map((e) => e.env.id),
      [old!.id],
      'readable while young',
    );
    await waitFor(async () => (await inbox.depth(user)) === 0, { timeoutMs: 5000, what: 'the entry to expire' });
    t.same(await inbox.read(user), [], 'expired entries are not read');
    await inbox.append(user, fresh!);
    t.same(
      (await inbox.read(user)).map((e) => e.env.id),
      [fresh!.id],
      'new entries are kept after older ones expired',
    );
    t.equal(await inbox.depth(user), 1);
  });

  t.test(`${name} inbox: envelopes come back intact (binary body, headers, fields)`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create();
    const user = uid('ünïcødé user/with:odd{chars}');
    const envs: UserEnvelope[] = [
      makeEnvelope({
        user,
        body: binaryBody(64 * 1024),
        headers: { 'content-type': 'application/octet-stream', 'x-ü': 'välue:with\nnewline', empty: '' },
        hops: 2,
        destination: '/queue/bin',
      }),
      makeEnvelope({ user, body: Buffer.alloc(0), headers: {} }),
      makeEnvelope({ user, body: Buffer.from(JSON.stringify({ a: 1, s: '😀' })), headers: { 'content-type': 'application/json' } }),
    ];
    for (const e of envs) await inbox.append(user, e);
    const entries = await inbox.read(user);
    t.equal(entries.length, envs.length);
    envs.forEach((e, i) => sameEnvelope(t, entries[i]?.env, e, `envelope ${i}`));
  });

  t.test(`${name} inbox: close() is safe twice`, async (t) => {
    const { create } = await setup(t);
    const inbox = await create();
    await inbox.close();
    await inbox.close();
    t.pass('closed twice');
  });
}

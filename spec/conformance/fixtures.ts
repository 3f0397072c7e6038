/** Shared bits of the conformance suites: the tap test type, envelopes, ids. */
import { randomBytes } from 'node:crypto';
import type { test } from 'tap';
import type { Envelope, EventEnvelope, TopicEnvelope, UserEnvelope } from '../../src/cluster/types.js';

/** The `t` a tap subtest callback receives. */
export type Tap = Parameters<Parameters<typeof test>[0]>[0];

let seq = 0;

/** A unique id with a readable tag (also used for node ids: unique per test run). */
export function uid(tag = 'x'): string {
  seq += 1;
  return `${tag}-${randomBytes(4).toString('hex')}-${seq}`;
}

/** Every byte value, then some random bytes: catches any text re-encoding of bodies. */
export function binaryBody(randomLength = 4096): Buffer {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  return Buffer.concat([all, randomBytes(randomLength), Buffer.from([0, 0xff, 0xfe, 0x0d, 0x0a, 0])]);
}

/** A user envelope for alice, with `over` on top. */
export function makeEnvelope(over: Partial<UserEnvelope> = {}): UserEnvelope {
  return {
    id: uid('env'),
    kind: 'user',
    user: 'alice',
    destination: '/queue/x',
    headers: { 'content-type': 'text/plain' },
    body: Buffer.from('hello'),
    hops: 0,
    origin: 'node-test',
    ts: Date.now(),
    ...over,
  };
}

/** A topic envelope (no user), with `over` on top. */
export function makeTopicEnvelope(over: Partial<Omit<TopicEnvelope, 'kind' | 'user'>> = {}): TopicEnvelope {
  const { kind: _kind, user: _user, ...fields } = makeEnvelope({ destination: '/topic/x' });
  return { kind: 'topic', ...fields, ...over };
}

/** An event envelope about a user (alice by default), with `over` on top. */
export function makeEventEnvelope(over: Partial<Omit<EventEnvelope, 'kind'>> = {}): EventEnvelope {
  const { kind: _kind, ...fields } = makeEnvelope({ destination: 'event' });
  return { kind: 'event', ...fields, ...over };
}

/** Deep comparison of two envelopes, body compared byte for byte. */
export function sameEnvelope(t: Tap, actual: Envelope | undefined, expected: Envelope, msg = 'envelope intact'): void {
  if (!actual) {
    t.fail(`${msg}: missing envelope ${expected.id}`);
    return;
  }
  t.same(
    {
      id: actual.id,
      kind: actual.kind,
      user: actual.user,
      destination: actual.destination,
      headers: actual.headers,
      hops: actual.hops,
      origin: actual.origin,
      ts: actual.ts,
    },
    {
      id: expected.id,
      kind: expected.kind,
      user: expected.user,
      destination: expected.destination,
      headers: expected.headers,
      hops: expected.hops,
      origin: expected.origin,
      ts: expected.ts,
    },
    `${msg}: metadata`,
  );
  t.ok(Buffer.isBuffer(actual.body), `${msg}: body is a Buffer`);
  t.ok(Buffer.isBuffer(actual.body) && actual.body.equals(expected.body), `${msg}: body bytes (${expected.body.length})`);
}

export const sorted = (xs: string[]): string[] => [...xs].sort();

/** Which of `users` have a session on `nodeId` (read through nodesOf, as routing reads it). */
export async function usersOn(reg: { nodesOf(user: string, opts?: { fresh?: boolean }): Promise<string[]> }, nodeId: string, users: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const u of users) if ((await reg.nodesOf(u, { fresh: true })).includes(nodeId)) out.push(u);
  return out;
}

/**
 * Handing a bus message to the handler (src/cluster/kafka/reader.ts), as the
 * node's consumer and a drain both do: order, retries, giving up when the bus
 * stops, undecodable bytes; and the bounded hooks.settled() barrier.
 * No Kafka needed.
 */
import t from 'tap';
import type { Message } from 'node-rdkafka';
import { encodeEnvelope, encodeEnvelopeBatch } from '../../src/cluster/envelope.js';
import type { ClusterLogger } from '../../src/cluster/errors.js';
import { resolveKafkaBusOptions } from '../../src/cluster/kafka/options.js';
import { handleMessage, settled } from '../../src/cluster/kafka/reader.js';
import type { BusContext } from '../../src/cluster/kafka/shared.js';
import type { BusHooks, Envelope } from '../../src/cluster/types.js';
import { makeEnvelope } from '../conformance/fixtures.js';

interface Logged {
  level: keyof ClusterLogger;
  msg: string | undefined;
  obj: object;
}

/** A started bus's context whose log lines are kept, with fast retries and a short settled() bound. */
function context(hooks: BusHooks = {}): { ctx: BusContext; logged: Logged[] } {
  const logged: Logged[] = [];
  const at = (level: keyof ClusterLogger) => (obj: object, msg?: string) => void logged.push({ level, msg, obj });
  const logger: ClusterLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const settings = resolveKafkaBusOptions({ brokers: '127.0.0.1:1', logger, handlerRetries: 2, handlerRetryDelayMs: 1, closeTimeoutMs: 50 });
  return { ctx: { ...settings, state: 'started', nodeId: 'n1', hooks, leaving: false }, logged };
}

const message = (value: Buffer, offset = 0): Message => ({ value, size: value.length, topic: 'p.node.n1', partition: 0, offset });
const batchOf = (envs: Envelope[]): Message => message(encodeEnvelopeBatch(envs.map(encodeEnvelope)));
const never = (): boolean => false;

t.test('every envelope of a message, in order; returns how many it held', async (t) => {
  const { ctx } = context();
  const envs = [makeEnvelope(), makeEnvelope(), makeEnvelope()];
  const got: string[] = [];
  t.equal(await handleMessage(ctx, batchOf(envs), (env) => void got.push(env.id), never), 3);
  t.same(got, envs.map((e) => e.id), 'a batch, in order');
  const lone = makeEnvelope();
  t.equal(await handleMessage(ctx, message(encodeEnvelope(lone)), (env) => void got.push(env.id), never), 1);
  t.equal(got[3], lone.id, 'a lone envelope');
});

t.test('an asynchronous handler finishes one envelope before it gets the next', async (t) => {
  const { ctx } = context();
  const envs = [makeEnvelope(), makeEnvelope()];
  const events: string[] = [];
  await handleMessage(
    ctx,
    batchOf(envs),
    async (env) => {
      events.push(`start ${env.id}`);
      await new Promise((r) => setTimeout(r, 5));
      events.push(`end ${env.id}`);
    },
    never,
  );
  t.same(events, envs.flatMap((e) => [`start ${e.id}`, `end ${e.id}`]));
});

t.test('a failing handler is retried handlerRetries times, then the envelope is logged and skipped', async (t) => {
  const { ctx, logged } = context();
  const [poison, next] = [makeEnvelope(), makeEnvelope()];
  const calls: string[] = [];
  const n = await handleMessage(
    ctx,
    batchOf([poison, next]),
    (env) => {
      calls.push(env.id);
      if (env.id === poison.id) throw new Error('always fails');
    },
    never,
  );
  t.equal(n, 2, 'the message counts as handled');
  t.same(calls, [poison.id, poison.id, poison.id, next.id], 'first attempt + 2 retries, then the next envelope');
  t.equal(logged.filter((l) => l.level === 'warn').length, 2, 'each retry warned');
  t.ok(logged.some((l) => l.level === 'error' && l.msg === 'bus handler kept failing; envelope skipped'), 'the skip is an error');
});

t.test('a handler that rejects once gets the envelope again', async (t) => {
  const { ctx } = context();
  const env = makeEnvelope();
  let calls = 0;
  const n = await handleMessage(ctx, batchOf([env]), () => (++calls === 1 ? Promise.reject(new Error('transient')) : undefined), never);
  t.equal(n, 1);
  t.equal(calls, 2);
});

t.test('when the bus stops while a handler fails, the message is given up (-1: not to be committed)', async (t) => {
  const { ctx } = context();
  const [first, second] = [makeEnvelope(), makeEnvelope()];
  const calls: string[] = [];
  let stopping = false;
  const n = await handleMessage(
    ctx,
    batchOf([first, second]),
    (env) => {
      calls.push(env.id);
      stopping = true;
      throw new Error('fails while the bus stops');
    },
    () => stopping,
  );
  t.equal(n, -1);
  t.same(calls, [first.id], 'no retry, and not the next envelope');
});

t.test('bytes that are not envelopes are logged and skipped', async (t) => {
  const { ctx, logged } = context();
  const fail = (): void => void t.fail('no handler call');
  t.equal(await handleMessage(ctx, message(Buffer.from('garbage'), 7), fail, never), 0, 'nothing handed over');
  t.ok(logged.some((l) => l.level === 'error' && l.msg === 'skipping undecodable bus message'));

  const good = makeEnvelope();
  const mixed = message(encodeEnvelopeBatch([Buffer.from('bad entry'), encodeEnvelope(good)]));
  const got: string[] = [];
  t.equal(await handleMessage(ctx, mixed, (env) => void got.push(env.id), never), 1);
  t.same(got, [good.id], 'the good envelope of a batch still arrives');
  t.ok(logged.some((l) => l.msg === 'skipping an undecodable envelope of a batch'));
});

t.test('settled(): the hook, bounded by closeTimeoutMs; never rejects', async (t) => {
  t.equal(await settled(context().ctx), undefined, 'no hook');
  let asked = 0;
  t.equal(await settled(context({ settled: async () => void asked++ }).ctx), undefined, 'resolved');
  t.equal(asked, 1);
  t.equal(await settled(context({ settled: () => new Promise<void>(() => undefined) }).ctx), 'timeout', 'bounded');

  const rejecting = context({ settled: () => Promise.reject(new Error('boom')) });
  t.equal(await settled(rejecting.ctx), undefined, 'a rejection is not passed on');
  const throwing = context({
    settled: () => {
      throw new Error('sync boom');
    },
  });
  t.equal(await settled(throwing.ctx), undefined, 'nor a throw');
  for (const { logged } of [rejecting, throwing]) t.ok(logged.some((l) => l.level === 'warn' && l.msg === 'settled() hook failed'));
});

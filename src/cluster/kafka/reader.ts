/**
 * What both readers of a node topic share — the node's own consumer
 * (consumer.ts) and a drain of a dead node's topic (drain.ts): consumer
 * config and connection, taking a batch of messages, handing a message's
 * envelopes to the handler (with retries), the hooks.settled() barrier.
 */
import Kafka from 'node-rdkafka';
import type { ConsumerGlobalConfig, KafkaConsumer, Message } from 'node-rdkafka';
import type { Envelope, EnvelopeHandler } from '../types.js';
import { decodeEnvelopes } from '../envelope.js';
import { ClusterError, ClusterErrorCode } from '../errors.js';
import { type BusContext, boundedWait, delay, ERR, errCode, isUnknownTopic } from './shared.js';

/** How long one blocking consume call waits for a first message when there is none. */
export const CONSUME_WAIT_MS = 50;

/** librdkafka settings of a consumer in group `groupId`: no auto-commit, no auto-created topics, low latency. */
export function consumerConfig(
  ctx: Readonly<BusContext>,
  groupId: string,
  clientId: string,
  extra: Partial<ConsumerGlobalConfig>,
): ConsumerGlobalConfig {
  return {
    'metadata.broker.list': ctx.options.brokers,
    'client.id': clientId,
    'group.id': groupId,
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'allow.auto.create.topics': false,
    // Latency: the broker answers a fetch as soon as one byte is there, so a
    // message never waits for fetch.wait.max.ms; that only bounds how long an
    // EMPTY fetch is held. 100 ms (not 10) keeps an idle consumer at ~10
    // fetches/s instead of ~100: about 4x less broker CPU per idle node.
    // No Nagle delay on the sockets.
    'fetch.wait.max.ms': 100,
    'fetch.min.bytes': 1,
    'fetch.error.backoff.ms': 50,
    'socket.nagle.disable': true,
    'log.connection.close': false,
    ...extra,
    ...ctx.consumerConfig,
  };
}

export function connectConsumer(conf: ConsumerGlobalConfig, topic: string, deadline: number): Promise<KafkaConsumer> {
  const consumer = new Kafka.KafkaConsumer(conf, { 'auto.offset.reset': 'earliest' });
  return new Promise((resolve, reject) => {
    consumer.connect({ topic, timeout: Math.max(1000, deadline - Date.now()) }, (err) => {
      if (err) reject(new ClusterError(ClusterErrorCode.BUS_START, `consumer connect failed: ${err.message}`, { cause: err }));
      else resolve(consumer);
    });
  });
}

/** Up to `n` messages (waiting as set by setDefaultConsumeTimeout); none on a timeout, an EOF or a topic gone. */
export function consumeBatch(consumer: KafkaConsumer, n: number): Promise<Message[]> {
  return new Promise((resolve, reject) => {
    consumer.consume(n, (err, msgs) => {
      if (!err) resolve(msgs ?? []);
      else if (errCode(err) === ERR.ERR__TIMED_OUT || errCode(err) === ERR.ERR__PARTITION_EOF) resolve([]);
      else if (isUnknownTopic(err)) resolve([]);
      else reject(err);
    });
  });
}

/**
 * Hand every envelope of one bus message to the handler, in order, with retries.
 * Returns how many envelopes the message held, or -1 if given up because
 * `stopping()` (the message is not handled: do not commit it).
 */
export async function handleMessage(
  ctx: Readonly<BusContext>,
  msg: Message,
  handler: EnvelopeHandler,
  stopping: () => boolean,
): Promise<number> {
  let envs: Envelope[];
  try {
    envs = decodeEnvelopes(msg.value, (err, index) =>
      ctx.log.error({ err, topic: msg.topic, partition: msg.partition, offset: msg.offset, index }, 'skipping an undecodable envelope of a batch'),
    );
  } catch (err) {
    // Garbage never blocks a partition: log it and move past it.
    ctx.log.error({ err, topic: msg.topic, partition: msg.partition, offset: msg.offset }, 'skipping undecodable bus message');
    return 0;
  }
  for (const env of envs) {
    // The common case: the handler finished synchronously, or resolves at the first try.
    let r: Promise<void> | void;
    try {
      r = handler(env);
    } catch (err) {
      r = Promise.reject(err);
    }
    if (r === undefined) continue;
    if (!(await retrying(ctx, r, env, msg, handler, stopping))) return -1;
  }
  return envs.length;
}

/** Await a handler's first attempt, then retry with backoff. False if given up because `stopping()`. */
async function retrying(
  ctx: Readonly<BusContext>,
  first: Promise<void>,
  env: Envelope,
  msg: Message,
  handler: EnvelopeHandler,
  stopping: () => boolean,
): Promise<boolean> {
  const { options, log } = ctx;
  const where = { topic: msg.topic, partition: msg.partition, offset: msg.offset, envelopeId: env.id };
  for (let attempt = 0; ; attempt++) {
    try {
      await (attempt === 0 ? first : handler(env));
      return true;
    } catch (err) {
      if (attempt >= options.handlerRetries) {
        log.error({ err, ...where, attempts: attempt + 1 }, 'bus handler kept failing; envelope skipped');
        return true;
      }
      log.warn({ err, ...where, attempt: attempt + 1 }, 'bus handler failed; retrying');
    }
    if (stopping()) return false;
    await delay(Math.min(5000, options.handlerRetryDelayMs * 2 ** attempt));
    if (stopping()) return false;
  }
}

/** hooks.settled(), bounded by closeTimeoutMs; never rejects (a failing hook is logged). */
export async function settled(ctx: Readonly<BusContext>): Promise<void | 'timeout'> {
  const { hooks, log } = ctx;
  if (!hooks.settled) return;
  let pending: Promise<void>;
  try {
    pending = hooks.settled();
  } catch (err) {
    pending = Promise.reject(err);
  }
  return boundedWait(
    pending.catch((err: unknown) => log.warn({ err, nodeId: ctx.nodeId }, 'settled() hook failed')),
    ctx.options.closeTimeoutMs,
  );
}

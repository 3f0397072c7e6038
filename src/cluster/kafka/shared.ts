/**
 * What the parts of KafkaBus (bus.ts) share: the context the facade keeps and
 * the others read, librdkafka error codes, bounded waits.
 */
import Kafka from 'node-rdkafka';
import type { KafkaConsumer, LibrdKafkaError, Producer } from 'node-rdkafka';
import type { BusHooks } from '../types.js';
import type { KafkaBusSettings } from './options.js';

export type BusState = 'idle' | 'starting' | 'started' | 'closing' | 'closed';

/** The options and where the bus stands. Only the facade (bus.ts) changes it; the other parts read it live. */
export interface BusContext extends Readonly<KafkaBusSettings> {
  state: BusState;
  /** This node's id, from start() on. */
  nodeId: string | null;
  hooks: BusHooks;
  /** Set by leave(): the main consumer stops taking envelopes. */
  leaving: boolean;
}

export const ERR = Kafka.CODES.ERRORS;

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function kafkaError(err: unknown): LibrdKafkaError | null {
  return err && typeof err === 'object' && 'code' in err ? (err as LibrdKafkaError) : null;
}

export function errCode(err: unknown): number | undefined {
  return kafkaError(err)?.code;
}

/** Errors meaning "this topic or partition does not exist (any more)". */
export function isUnknownTopic(err: unknown): boolean {
  const c = errCode(err);
  return c === ERR.ERR_UNKNOWN_TOPIC_OR_PART || c === ERR.ERR__UNKNOWN_TOPIC || c === ERR.ERR__UNKNOWN_PARTITION;
}

/** Races `p` against `ms`; resolves to 'timeout' if the time ran out first. */
export async function boundedWait<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Disconnect a client, waiting at most max(closeTimeoutMs, 5 s). */
export async function disconnect(ctx: Readonly<BusContext>, client: KafkaConsumer | Producer, what: string): Promise<void> {
  if (!client.isConnected()) return;
  const r = await boundedWait(
    new Promise<void>((resolve) => client.disconnect(() => resolve())),
    Math.max(ctx.options.closeTimeoutMs, 5000),
  );
  if (r === 'timeout') ctx.log.warn({ nodeId: ctx.nodeId }, `kafka ${what} disconnect timed out`);
}

/**
 * KafkaBus options: what a caller may set, the defaults of what it leaves out
 * (KAFKA_BUS_DEFAULTS), and their resolution and validation.
 */
import type { ConsumerGlobalConfig, ProducerGlobalConfig } from 'node-rdkafka';
import { ClusterError, ClusterErrorCode, type ClusterLogger, silentLogger } from '../errors.js';

export interface KafkaBusOptions {
  /** `host:port[,host:port]` (`KAFKA_BROKERS`, docs/design.md "Configuration"). */
  brokers: string;
  /** Topic and group name prefix (`CLUSTER_PREFIX`, docs/design.md "Configuration"). Default `stomp-cluster`. */
  prefix?: string;
  logger?: ClusterLogger;
  /** Partitions of each node topic. Default 1 (one user's order is kept at any count). */
  partitions?: number;
  /** Partitions of the broadcast topic. Default 1. */
  broadcastPartitions?: number;
  /** Replication factor of created topics; -1 = the broker's default.replication.factor. Default -1. */
  replicationFactor?: number;
  /** Extra topic configs for created topics (e.g. `retention.ms`). */
  topicConfig?: Record<string, string>;
  /**
   * Largest encoded envelope (body + ~200 bytes of metadata) the bus carries. Sets the
   * producer's message.max.bytes and the created topics' max.message.bytes (Kafka's
   * default of ~1 MB would refuse a STOMP frame at the codec's 1 MiB limit). Default 8 MiB.
   */
  maxMessageBytes?: number;
  /** Bound on start(): topic creation, connections, assignment. Default 30 s. */
  startTimeoutMs?: number;
  /**
   * How long close() waits for handlers in flight. Envelopes whose handler has not
   * resolved by then stay uncommitted (a later drainNode re-delivers them). Default 10 s.
   */
  closeTimeoutMs?: number;
  /** Bound on one drainNode(). On timeout it rejects and leaves the topic for a retry. Default 60 s. */
  drainTimeoutMs?: number;
  /** How long a send may wait for its delivery report (librdkafka message.timeout.ms). Default 30 s. */
  sendTimeoutMs?: number;
  /** How long a send to a topic the broker does not know waits before failing. Default 5 s. */
  unknownTopicTimeoutMs?: number;
  /** Extra attempts after a handler rejects (then the envelope is logged and skipped). Default 5. */
  handlerRetries?: number;
  /** First retry delay (ms), doubled each attempt, capped at 5 s. Default 50. */
  handlerRetryDelayMs?: number;
  /**
   * Received envelopes buffered before the consumer pauses fetching (a batch
   * counts as its envelopes; one fetch may overshoot by what it carried). Pausing
   * makes librdkafka drop what it prefetched and fetch it again on resume, so
   * this is a memory bound for a stalled handler, not a flow control to hit
   * at full speed. Default 10,000 (a few MB at typical message sizes).
   */
  maxBuffered?: number;
  /**
   * Own-topic offsets are committed at most this often (ms); 0 = after every
   * event-loop turn that handled envelopes. Each commit is a request the broker
   * writes to __consumer_offsets: at a few thousand envelopes/s, committing
   * every turn costs broker CPU and latency on a small machine. Only handled
   * envelopes are ever committed, and stop/leave/close commit at once, so the
   * interval only widens what a killed node's drain hands over again
   * (duplicates, never losses). Default 100.
   */
  commitIntervalMs?: number;
  /** client.id prefix. Default `stomp-cluster`. */
  clientId?: string;
  /** librdkafka settings merged over the defaults, for the producer / the consumers. */
  producerConfig?: Partial<ProducerGlobalConfig>;
  consumerConfig?: Partial<ConsumerGlobalConfig>;
}

/** The plain (non-object) options, every one set. */
export type ResolvedKafkaBusOptions = Required<Omit<KafkaBusOptions, 'logger' | 'topicConfig' | 'producerConfig' | 'consumerConfig'>>;

/** What KafkaBus uses for each option left out. */
export const KAFKA_BUS_DEFAULTS: Readonly<Omit<ResolvedKafkaBusOptions, 'brokers'>> = {
  prefix: 'stomp-cluster',
  partitions: 1,
  broadcastPartitions: 1,
  replicationFactor: -1,
  startTimeoutMs: 30_000,
  closeTimeoutMs: 10_000,
  drainTimeoutMs: 60_000,
  sendTimeoutMs: 30_000,
  unknownTopicTimeoutMs: 5_000,
  handlerRetries: 5,
  handlerRetryDelayMs: 50,
  maxBuffered: 10_000,
  commitIntervalMs: 100,
  maxMessageBytes: 8 * 1024 * 1024,
  clientId: 'stomp-cluster',
};

/** Every option resolved: the plain ones, and the object ones with their empty defaults. */
export interface KafkaBusSettings {
  options: ResolvedKafkaBusOptions;
  log: ClusterLogger;
  topicConfig: Record<string, string>;
  producerConfig: Partial<ProducerGlobalConfig>;
  consumerConfig: Partial<ConsumerGlobalConfig>;
}

/** Protocol framing allowance on top of maxMessageBytes (producer message.max.bytes, topic max.message.bytes). */
export const FRAMING_BYTES = 64 * 1024;

/** Characters a topic name part (the prefix, a node id) may contain. */
const NAME_PART = /^[A-Za-z0-9._-]+$/;

/** Whether `s` may be part of a topic or group name. */
export function isNamePart(s: string): boolean {
  return NAME_PART.test(s);
}

/** Defaults for what `opts` leaves out (or sets to undefined); throws CLUSTER_ERR_INVALID_STATE on bad options. */
export function resolveKafkaBusOptions(opts: KafkaBusOptions): KafkaBusSettings {
  if (!opts || typeof opts.brokers !== 'string' || opts.brokers.trim() === '') {
    throw new ClusterError(ClusterErrorCode.INVALID_STATE, 'KafkaBus: `brokers` (host:port,...) is required');
  }
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<ResolvedKafkaBusOptions>;
  const options = { ...KAFKA_BUS_DEFAULTS, ...defined, brokers: opts.brokers };
  if (!isNamePart(options.prefix)) {
    throw new ClusterError(
      ClusterErrorCode.INVALID_STATE,
      `KafkaBus: prefix "${options.prefix}" may only contain letters, digits, '.', '_' and '-'`,
    );
  }
  return {
    options,
    log: opts.logger ?? silentLogger,
    topicConfig: opts.topicConfig ?? {},
    producerConfig: opts.producerConfig ?? {},
    consumerConfig: opts.consumerConfig ?? {},
  };
}

/**
 * KafkaBus options: what a caller may set (the config's `kafka` section,
 * KafkaOptions, plus the brokers, the prefix and librdkafka settings), the
 * defaults of what it leaves out (KAFKA_BUS_DEFAULTS, from the config's
 * DEFAULTS), and their resolution and validation.
 */
import type { ConsumerGlobalConfig, ProducerGlobalConfig } from 'node-rdkafka';
import { DEFAULTS, type KafkaOptions } from '../../config.js';
import { ClusterError, ClusterErrorCode, type ClusterLogger, silentLogger } from '../errors.js';

export interface KafkaBusOptions extends Partial<KafkaOptions> {
  /** `host:port[,host:port]` (`KAFKA_BROKERS`, docs/design.md "Configuration"). */
  brokers: string;
  /** Topic and group name prefix (`CLUSTER_PREFIX`, docs/design.md "Configuration"). Default `stomp-cluster`. */
  prefix?: string;
  logger?: ClusterLogger;
  /** Extra topic configs for created topics (e.g. `retention.ms`). */
  topicConfig?: Record<string, string>;
  /** librdkafka settings merged over the defaults, for the producer / the consumers. */
  producerConfig?: Partial<ProducerGlobalConfig>;
  consumerConfig?: Partial<ConsumerGlobalConfig>;
}

/** The plain (non-object) options, every one set. */
export type ResolvedKafkaBusOptions = Required<Omit<KafkaBusOptions, 'logger' | 'topicConfig' | 'producerConfig' | 'consumerConfig'>>;

/** What KafkaBus uses for each option left out: the broker's one config object (DEFAULTS.kafka, src/config.ts). */
export const KAFKA_BUS_DEFAULTS: Readonly<Omit<ResolvedKafkaBusOptions, 'brokers'>> = { prefix: DEFAULTS.clusterPrefix, ...DEFAULTS.kafka };

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

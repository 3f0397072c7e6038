/**
 * Builds the networked backends of a cluster node from the configuration:
 * Redis registry and inbox (REDIS_URL), Kafka bus (KAFKA_BROKERS). Loaded
 * lazily so a single node never loads ioredis or node-rdkafka.
 */
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config.js';
import type { Bus, Inbox, Registry } from './types.js';

export async function createClusterBackends(config: BrokerConfig, log: Logger): Promise<{ registry: Registry; bus: Bus; inbox: Inbox }> {
  const [{ RedisRegistry }, { RedisInbox }, { KafkaBus }] = await Promise.all([
    import('./redis/registry.js'),
    import('./redis/inbox.js'),
    import('./kafka/bus.js'),
  ]);
  const prefix = config.clusterPrefix;
  const registry = new RedisRegistry({ redis: config.redisUrl!, prefix });
  const inbox = new RedisInbox({ redis: config.redisUrl!, prefix, limits: { maxLength: config.inbox.maxLength, maxAgeMs: config.inbox.maxAgeMs } });
  const bus = new KafkaBus({ ...config.kafka, brokers: config.kafkaBrokers!, prefix, logger: log.child({ component: 'kafka' }) });
  return { registry, bus, inbox };
}

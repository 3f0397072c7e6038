/**
 * What createBroker() takes: any configuration field (src/config.ts, over
 * the environment and the defaults), the auth hooks, and optionally the
 * backends to use instead of the configured ones.
 */
import type { Logger } from 'pino';
import type { BrokerConfig, DeepPartial } from './config.js';
import type { Bus, Inbox, Registry } from './cluster/types.js';
import type { AuthenticateHook, AuthorizeHook } from './session/auth.js';

export interface BrokerHooks {
  authenticate?: AuthenticateHook;
  authorizeSubscribe?: AuthorizeHook;
  authorizeSend?: AuthorizeHook;
}

export interface BrokerBackends {
  registry?: Registry;
  bus?: Bus;
  inbox?: Inbox;
}

export type BrokerOptions = DeepPartial<BrokerConfig> &
  BrokerHooks & {
    /**
     * Backends to use instead of the configured ones (memory, or Redis and Kafka from
     * REDIS_URL and KAFKA_BROKERS). Given a registry or a bus, the node is a cluster node.
     */
    backends?: BrokerBackends;
    /** A pino logger (or compatible) to use instead of creating one. */
    logger?: Logger;
  };

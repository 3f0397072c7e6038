/**
 * stomp-cluster public API.
 *
 *   const broker = createBroker({ port: 8080 });
 *   broker.handle('/chat', (msg) => broker.sendToUser(...));
 *   await broker.listen();
 *   await broker.sendToUser('bob', '/queue/news', { hello: 'world' });
 *   await broker.close();
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Broker } from './broker/broker.js';
import type { AppHandler, HandlerOptions } from './broker/app-handlers.js';
import { fromEnv, resolveConfig, type BrokerConfig, type BrokerOptions } from './config.js';
import type { Bus, Inbox, Registry } from './cluster/types.js';
import { createLogger } from './log.js';
import { StompServer, type ListenAddress } from './server.js';
import { createClusterBackends } from './cluster/factory.js';
import { registerApi } from './http/api.js';
import { registerMetrics } from './http/metrics.js';
import { jwtAuthenticate } from './broker/jwt.js';
import { defaultAllowedOrigins } from './transport/origin.js';

export type { BrokerConfig, BrokerOptions, Principal, AuthContext, AuthenticateHook, AuthorizeHook } from './config.js';
export type { AppHandler, AppMessage, HandlerOptions } from './broker/app-handlers.js';
export type { Registry, Bus, Inbox, Envelope, SessionRecord, NodeInfo, InboxEntry } from './cluster/types.js';
export { ErrorCode, StompError } from './errors.js';
export { DEFAULTS, resolveConfig, fromEnv } from './config.js';
export { MemoryRegistry, MemoryRegistryStore } from './cluster/memory/registry.js';
export { MemoryBus, MemoryBusHub } from './cluster/memory/bus.js';
export { MemoryInbox } from './cluster/memory/inbox.js';
export { Broker } from './broker/broker.js';
export { jwtAuthenticate, type JwtOptions } from './broker/jwt.js';
export { stompjsBundlePath } from './demo.js';

export interface StompBroker {
  readonly config: BrokerConfig;
  readonly log: Logger;
  /** The Fastify instance: add your own routes before listen(). */
  readonly app: FastifyInstance;
  /** The broker core (available after listen()). */
  readonly core: Broker;
  readonly nodeId: string;
  listen(): Promise<ListenAddress>;
  /** Idempotent: sessions are told to reconnect and closed first, then the backends. */
  close(): Promise<void>;
  sendToUser(user: string, destination: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  publish(destination: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  handle(path: string, fn: AppHandler, opts?: HandlerOptions): void;
  kick(user: string): Promise<number>;
}

/**
 * The origin allow-list in effect, said once at start: same-origin by default
 * when cookie tokens are accepted (the default JWT authentication reads the
 * `access_token` cookie), so a page on another site cannot connect as the
 * visitor (cross-site WebSocket hijacking).
 */
function allowedOrigins(config: BrokerConfig, cookieTokens: boolean, customAuth: boolean, log: Logger): string[] {
  const configured = config.allowedOrigins;
  if (configured === null) {
    const list = defaultAllowedOrigins(cookieTokens);
    if (cookieTokens) log.info('cookie tokens are accepted: only same-origin pages may connect (set STOMP_ALLOWED_ORIGINS to allow others)');
    else if (customAuth)
      log.info('STOMP_ALLOWED_ORIGINS is not set: pages from any origin may connect; if the authenticate hook trusts cookies, set it (e.g. same-origin)');
    return list;
  }
  if (cookieTokens && configured.includes('*'))
    log.warn('STOMP_ALLOWED_ORIGINS=* while cookie tokens are accepted: a page on any site can connect as a logged-in visitor');
  return configured;
}

/**
 * Build a broker from options over the environment over the defaults. With
 * REDIS_URL and KAFKA_BROKERS (or redisUrl/kafkaBrokers) it is a cluster node;
 * otherwise a complete single-process broker with in-memory backends.
 * `env: false` in the second argument ignores process.env (tests).
 */
export function createBroker(options: BrokerOptions = {}, { env = true }: { env?: boolean } = {}): StompBroker {
  const { authenticate, authorizeSubscribe, authorizeSend, backends: given = {}, logger, ...rest } = options;
  const { registry, bus, inbox } = given;
  const config = resolveConfig(env ? fromEnv() : undefined, rest);
  const log = logger ?? createLogger(config.logLevel);
  const jwtOn = !!(config.jwt.secret || config.jwt.jwksUrl);
  const auth = authenticate ?? (jwtOn ? jwtAuthenticate(config.jwt) : undefined);
  if (!auth && Object.keys(config.users).length === 0)
    log.warn('no authenticate hook and no STOMP_USERS: the CONNECT "login" header is taken as the user name, unchecked');
  let backends: { registry?: Registry; bus?: Bus; inbox?: Inbox; clustered: boolean } = {
    clustered: registry !== undefined || bus !== undefined,
  };
  if (registry) backends.registry = registry;
  if (bus) backends.bus = bus;
  if (inbox) backends.inbox = inbox;
  const core = new Broker(config, { log, ...backends, authenticate: auth, authorizeSubscribe, authorizeSend });
  const server = new StompServer(core, config, core.log, allowedOrigins(config, jwtOn && !authenticate, !!authenticate, core.log));
  const metricsListener = registerMetrics(server.app, core, config.metrics, config.http.requestTimeoutMs, server.connections);
  registerApi(server.app, core, config.apiToken);
  let listening: Promise<ListenAddress> | null = null;
  let closing: Promise<void> | null = null;
  let started = false;

  return {
    config,
    log: core.log,
    app: server.app,
    core,
    nodeId: core.nodeId,
    listen() {
      listening ??= (async () => {
        if (config.redisUrl && config.kafkaBrokers && !registry && !bus) {
          backends = { ...(await createClusterBackends(config, core.log)), clustered: true };
          core.useBackends(backends);
        }
        await core.start();
        started = true;
        const addr = await server.listen();
        if (metricsListener) addr.metricsPort = await metricsListener.listen(config.host);
        core.log.info({ ...addr, endpoints: config.endpoints, clustered: core.clustered }, 'stomp-cluster listening');
        return addr;
      })();
      return listening;
    },
    close() {
      closing ??= (async () => {
        if (listening) await listening.catch(() => undefined);
        server.stopAccepting();
        if (started) await core.stop();
        await Promise.all([server.close(), metricsListener?.close()]);
      })();
      return closing;
    },
    sendToUser: (user, destination, body, headers) => core.sendToUser(user, destination, body, headers),
    publish: (destination, body, headers) => core.publish(destination, body, headers),
    handle: (path, fn, opts) => core.handle(path, fn, opts),
    kick: (user) => core.kick(user),
  };
}

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
import { AppHandlers, type AppHandler, type HandlerOptions } from './broker/app-handlers.js';
import { generateNodeId } from './broker/ids.js';
import { jwtAuthenticate } from './broker/jwt.js';
import { resolveConfig, type BrokerConfig } from './config.js';
import { fromEnv } from './env.js';
import { registerApi } from './http/api.js';
import { registerMetrics } from './http/metrics.js';
import { exposeCore } from './internals.js';
import { createLogger } from './log.js';
import { NodeHost } from './node.js';
import type { BrokerOptions } from './options.js';
import { StompServer, type ListenAddress } from './server.js';
import { defaultAllowedOrigins } from './transport/origin.js';

export type { BrokerConfig } from './config.js';
export type { BrokerOptions, BrokerBackends, BrokerHooks } from './options.js';
export type { Principal, AuthContext, AuthenticateHook, AuthorizeContext, AuthorizeHook } from './session/auth.js';
export type { AppHandler, AppMessage, HandlerOptions } from './broker/app-handlers.js';
export type { Registry, Bus, Inbox, Envelope, UserEnvelope, TopicEnvelope, EventEnvelope, SessionRecord, NodeInfo, InboxEntry } from './cluster/types.js';
export { ErrorCode, StompError } from './errors.js';
export { DEFAULTS, resolveConfig } from './config.js';
export { fromEnv } from './env.js';
export { MemoryRegistry, MemoryRegistryStore } from './cluster/memory/registry.js';
export { MemoryBus, MemoryBusHub } from './cluster/memory/bus.js';
export { MemoryInbox } from './cluster/memory/inbox.js';
export { jwtAuthenticate, type JwtOptions } from './broker/jwt.js';
export { stompjsBundlePath } from './demo.js';

export interface StompBroker {
  readonly config: BrokerConfig;
  readonly log: Logger;
  /** The Fastify instance: add your own routes before listen(). */
  readonly app: FastifyInstance;
  readonly nodeId: string;
  /** Choose the backends, start the broker on them, then listen. */
  listen(): Promise<ListenAddress>;
  /** Idempotent: the node's topic is handed over (cluster), sessions are told to reconnect and closed, then the backends. */
  close(): Promise<void>;
  sendToUser(user: string, destination: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  publish(destination: string, body: unknown, headers?: Record<string, string>): Promise<void>;
  /** Register an /app handler (Spring's @MessageMapping) for `path` (without the app prefix); before or after listen(). */
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
 * REDIS_URL and KAFKA_BROKERS (or redisUrl/kafkaBrokers, or injected
 * backends) it is a cluster node; otherwise a complete single-process broker
 * with in-memory backends. The backends are chosen once, by listen().
 * `env: false` in the second argument ignores process.env (tests).
 */
export function createBroker(options: BrokerOptions = {}, { env = true }: { env?: boolean } = {}): StompBroker {
  const { authenticate, authorizeSubscribe, authorizeSend, backends = {}, logger, ...rest } = options;
  const config = resolveConfig(env ? fromEnv() : undefined, rest);
  const nodeId = config.nodeId ?? generateNodeId();
  const log = (logger ?? createLogger(config.logLevel)).child({ node: nodeId });
  const jwtOn = !!(config.jwt.secret || config.jwt.jwksUrl);
  const auth = authenticate ?? (jwtOn ? jwtAuthenticate(config.jwt) : undefined);
  if (!auth && Object.keys(config.users).length === 0)
    log.warn('no authenticate hook and no STOMP_USERS: the CONNECT "login" header is taken as the user name, unchecked');
  const handlers = new AppHandlers();
  const node = new NodeHost(nodeId, config, log, handlers, { authenticate: auth, authorizeSubscribe, authorizeSend });
  const server = new StompServer(node, config, log, allowedOrigins(config, jwtOn && !authenticate, !!authenticate, log));
  const metricsListener = registerMetrics(server.app, node, config.metrics, config.http.requestTimeoutMs, server.connections);
  registerApi(server.app, node, { token: config.apiToken, topicPrefix: config.topicPrefixes[0]!, log });
  let listening: Promise<ListenAddress> | null = null;
  let closing: Promise<void> | null = null;

  const broker: StompBroker = {
    config,
    log,
    app: server.app,
    nodeId,
    listen() {
      listening ??= (async () => {
        let core;
        try {
          core = await node.start(backends);
        } catch (err) {
          listening = null; // the backends did not start: listen() may be tried again
          throw err;
        }
        const addr = await server.listen();
        if (metricsListener) addr.metricsPort = await metricsListener.listen(config.host);
        log.info({ ...addr, endpoints: config.endpoints, clustered: core.clustered }, 'stomp-cluster listening');
        return addr;
      })();
      return listening;
    },
    close() {
      closing ??= (async () => {
        if (listening) await listening.catch(() => undefined);
        server.stopAccepting();
        await node.core?.stop();
        await Promise.all([server.close(), metricsListener?.close()]);
      })();
      return closing;
    },
    sendToUser: (user, destination, body, headers) => node.sendToUser(user, destination, body, headers),
    publish: (destination, body, headers) => node.publish(destination, body, headers),
    handle: (path, fn, opts) => handlers.add(path, fn, opts),
    kick: (user) => node.kick(user),
  };
  exposeCore(broker, () => node.core);
  return broker;
}

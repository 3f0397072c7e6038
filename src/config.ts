/**
 * One typed defaults object, overridable by options (createBroker), the
 * environment (docs/design.md "Configuration") and CLI flags (main.ts).
 * Bad combinations fail at start with a clear message.
 */
import type { IncomingMessage } from 'node:http';
import type { Headers } from './stomp/frame.js';
import type { Bus, Inbox, Registry } from './cluster/types.js';

/** Result of authentication: who the session is (null = anonymous). */
export interface Principal {
  name: string;
  /** Anything the app wants to carry (claims, roles). */
  attributes?: Record<string, unknown>;
}

export interface AuthContext {
  /** CONNECT frame headers (login, passcode, Authorization, ...). */
  headers: Headers;
  /** The HTTP request that opened the connection (the WebSocket upgrade, or the request that opened a SockJS session); undefined for TCP. */
  request?: IncomingMessage | undefined;
  transport: 'websocket' | 'sockjs' | 'tcp';
  remoteAddress: string;
}

/**
 * Decide who a session is. Return a Principal, null for an anonymous session,
 * or throw (or return false) to refuse the connection with an AUTH_FAILED ERROR.
 */
export type AuthenticateHook = (ctx: AuthContext) => Promise<Principal | null | false> | Principal | null | false;

export interface AuthorizeContext {
  principal: Principal | null;
  sessionId: string;
  destination: string;
  headers: Headers;
}
/** Return false (or throw) to refuse with a FORBIDDEN ERROR. */
export type AuthorizeHook = (ctx: AuthorizeContext) => Promise<boolean> | boolean;

export interface Limits {
  /** Max bytes of one STOMP frame (command + headers + body). */
  maxFrameBytes: number;
  /** Max header lines in one frame. */
  maxHeaders: number;
  /** Max bytes of one header line. */
  maxHeaderLineBytes: number;
  /** Max WebSocket message size accepted (ws maxPayload). */
  maxWebSocketMessageBytes: number;
  /** Max bytes queued for one client before it is a slow consumer and is disconnected. */
  maxBufferedBytes: number;
  /** Max subscriptions held by one session. */
  maxSubscriptionsPerSession: number;
  /** Max open transactions of one session. */
  maxTransactionsPerSession: number;
  /** Max frames buffered in one transaction. */
  maxFramesPerTransaction: number;
  /** Max unacknowledged messages held for one session (client ack modes). */
  maxUnackedPerSession: number;
  /** Max messages kept by one /queue destination while nobody consumes it. */
  maxQueueDepth: number;
  /** A connection that sends no CONNECT within this time is closed. */
  connectTimeoutMs: number;
  /** Max characters of a subscription pattern (a destination with `*` or `{`). */
  maxPatternLength: number;
  /** Max wildcards (`*`, `{name}`, `**`) in a subscription pattern. */
  maxPatternWildcards: number;
}

export interface HeartbeatOptions {
  /** What the server can send, ms (CONNECTED heart-beat first value). 0 = never. */
  outgoingMs: number;
  /** What the server wants to receive, ms (CONNECTED heart-beat second value). 0 = never. */
  incomingMs: number;
  /** A silent client is closed after the negotiated read interval times this factor. */
  graceFactor: number;
}

export interface ClusterOptions {
  /** Node liveness key TTL in Redis; a node silent this long is dead. */
  nodeTtlMs: number;
  /** How often a node refreshes its liveness. */
  heartbeatIntervalMs: number;
  /** How often survivors look for dead nodes. */
  deadNodeCheckIntervalMs: number;
  /** Max times one envelope is forwarded between nodes before it goes to the inbox. */
  maxHops: number;
  /**
   * Features this node announces to the others (src/broker/features.ts); unset =
   * all this version has. Only for tests that play an older node (NODE_FEATURES).
   */
  features?: string[];
}

export interface InboxOptions {
  maxLength: number;
  maxAgeMs: number;
  /** Destination patterns (Ant style, on the /user form) whose undeliverable messages wait in the inbox. */
  destinations: string[];
}

export interface JwtConfig {
  /** HMAC secret (STOMP_JWT_SECRET). */
  secret: string | null;
  /** JWKS endpoint (STOMP_JWT_JWKS_URL). */
  jwksUrl: string | null;
  issuer: string | null;
  audience: string | null;
  /** Claim holding the user name (default sub). */
  userClaim: string;
}

export interface BrokerConfig {
  port: number;
  host: string;
  /** WebSocket/SockJS endpoint paths. */
  endpoints: string[];
  /** Plain STOMP over TCP; null = off. */
  tcpPort: number | null;
  tcpHost: string;
  redisUrl: string | null;
  kafkaBrokers: string | null;
  nodeId: string | null;
  clusterPrefix: string;
  /** Spring's setApplicationDestinationPrefixes. */
  appPrefixes: string[];
  /** Pub/sub prefixes (Spring's enableSimpleBroker("/topic", ...)). */
  topicPrefixes: string[];
  /** Point-to-point queue prefixes. */
  queuePrefixes: string[];
  /** Spring's setUserDestinationPrefix. */
  userPrefix: string;
  /** Allowed Origin values for browser upgrades; ['*'] = any. */
  allowedOrigins: string[];
  /** STOMP_USERS: name -> passcode. Empty = login is the user name (no check). */
  users: Record<string, string>;
  /**
   * Allow a logged-in client to SEND to another user's destinations,
   * /user/{name}/... (Spring allows it; authorizeSend still decides per case).
   * Sessions without a user never may.
   */
  allowClientSendToUser: boolean;
  serverName: string;
  heartbeat: HeartbeatOptions;
  limits: Limits;
  cluster: ClusterOptions;
  inbox: InboxOptions;
  logLevel: string;
  /** SockJS endpoints alongside raw WebSocket (Spring's withSockJS()). */
  sockjs: boolean;
  /** Bearer token protecting the HTTP API; null = API off. */
  apiToken: string | null;
  /** JWT authentication at CONNECT, used when no authenticate hook is given and a secret or JWKS URL is set. */
  jwt: JwtConfig;
}

export const VERSION = '0.1.0';

export const DEFAULTS: BrokerConfig = {
  port: 8080,
  host: '0.0.0.0',
  endpoints: ['/ws'],
  tcpPort: null,
  tcpHost: '0.0.0.0',
  redisUrl: null,
  kafkaBrokers: null,
  nodeId: null,
  clusterPrefix: 'stomp-cluster',
  appPrefixes: ['/app'],
  topicPrefixes: ['/topic'],
  queuePrefixes: ['/queue'],
  userPrefix: '/user',
  allowedOrigins: ['*'],
  users: {},
  allowClientSendToUser: true,
  serverName: `stomp-cluster/${VERSION}`,
  heartbeat: { outgoingMs: 10_000, incomingMs: 10_000, graceFactor: 1.5 },
  limits: {
    maxFrameBytes: 1024 * 1024,
    maxHeaders: 64,
    maxHeaderLineBytes: 8 * 1024,
    maxWebSocketMessageBytes: 1024 * 1024 + 64 * 1024,
    maxBufferedBytes: 4 * 1024 * 1024,
    maxSubscriptionsPerSession: 1000,
    maxTransactionsPerSession: 16,
    maxFramesPerTransaction: 1000,
    maxUnackedPerSession: 10_000,
    maxQueueDepth: 10_000,
    connectTimeoutMs: 10_000,
    maxPatternLength: 1024,
    maxPatternWildcards: 16,
  },
  cluster: { nodeTtlMs: 6_000, heartbeatIntervalMs: 2_000, deadNodeCheckIntervalMs: 2_000, maxHops: 3 },
  inbox: { maxLength: 1_000, maxAgeMs: 24 * 60 * 60 * 1000, destinations: ['/user/queue/**'] },
  logLevel: 'info',
  sockjs: true,
  apiToken: null,
  jwt: { secret: null, jwksUrl: null, issuer: null, audience: null, userClaim: 'sub' },
};

/** Options of createBroker(): any config field plus hooks and injected backends. */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : Partial<T[K]>) : T[K] };

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
  BrokerHooks &
  BrokerBackends & {
    /** A pino logger (or compatible) to use instead of creating one. */
    logger?: import('pino').Logger;
  };

function int(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`config: ${name} must be a non-negative integer, got "${v}"`);
  return n;
}

function bool(name: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new Error(`config: ${name} must be true or false, got "${v}"`);
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Parse `name:pass,name2:pass2`. */
export function parseUsers(v: string): Record<string, string> {
  // Null prototype: a user named "__proto__" or "constructor" is an entry like any other.
  const out = Object.create(null) as Record<string, string>;
  for (const item of list(v)) {
    const i = item.indexOf(':');
    if (i <= 0) throw new Error(`config: STOMP_USERS entries must be name:passcode, got "${item}"`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** Read the environment variables of docs/design.md "Configuration" into a partial config. */
export function fromEnv(env: NodeJS.ProcessEnv = process.env): DeepPartial<BrokerConfig> {
  const c: DeepPartial<BrokerConfig> = {};
  const limits: Partial<Limits> = {};
  const cluster: Partial<ClusterOptions> = {};
  const heartbeat: Partial<HeartbeatOptions> = {};
  if (env.PORT) c.port = int('PORT', env.PORT);
  if (env.HOST) c.host = env.HOST;
  if (env.STOMP_ENDPOINTS) c.endpoints = list(env.STOMP_ENDPOINTS);
  if (env.STOMP_TCP_PORT) c.tcpPort = int('STOMP_TCP_PORT', env.STOMP_TCP_PORT);
  if (env.STOMP_TCP_HOST) c.tcpHost = env.STOMP_TCP_HOST;
  if (env.REDIS_URL) c.redisUrl = env.REDIS_URL;
  if (env.KAFKA_BROKERS) c.kafkaBrokers = env.KAFKA_BROKERS;
  if (env.NODE_ID) c.nodeId = env.NODE_ID;
  if (env.CLUSTER_PREFIX) c.clusterPrefix = env.CLUSTER_PREFIX;
  if (env.STOMP_APP_PREFIXES) c.appPrefixes = list(env.STOMP_APP_PREFIXES);
  if (env.STOMP_TOPIC_PREFIXES) c.topicPrefixes = list(env.STOMP_TOPIC_PREFIXES);
  if (env.STOMP_QUEUE_PREFIXES) c.queuePrefixes = list(env.STOMP_QUEUE_PREFIXES);
  if (env.STOMP_USER_PREFIX) c.userPrefix = env.STOMP_USER_PREFIX;
  if (env.STOMP_ALLOWED_ORIGINS) c.allowedOrigins = list(env.STOMP_ALLOWED_ORIGINS);
  if (env.STOMP_USERS) c.users = parseUsers(env.STOMP_USERS);
  if (env.STOMP_ALLOW_CLIENT_SEND_TO_USER) c.allowClientSendToUser = bool('STOMP_ALLOW_CLIENT_SEND_TO_USER', env.STOMP_ALLOW_CLIENT_SEND_TO_USER);
  if (env.STOMP_SOCKJS) c.sockjs = env.STOMP_SOCKJS !== 'false' && env.STOMP_SOCKJS !== '0';
  if (env.STOMP_API_TOKEN) c.apiToken = env.STOMP_API_TOKEN;
  if (env.LOG_LEVEL) c.logLevel = env.LOG_LEVEL;
  if (env.STOMP_MAX_FRAME_BYTES) limits.maxFrameBytes = int('STOMP_MAX_FRAME_BYTES', env.STOMP_MAX_FRAME_BYTES);
  if (env.STOMP_MAX_WS_MESSAGE_BYTES)
    limits.maxWebSocketMessageBytes = int('STOMP_MAX_WS_MESSAGE_BYTES', env.STOMP_MAX_WS_MESSAGE_BYTES);
  if (env.STOMP_MAX_BUFFERED_BYTES) limits.maxBufferedBytes = int('STOMP_MAX_BUFFERED_BYTES', env.STOMP_MAX_BUFFERED_BYTES);
  if (env.STOMP_MAX_SUBSCRIPTIONS)
    limits.maxSubscriptionsPerSession = int('STOMP_MAX_SUBSCRIPTIONS', env.STOMP_MAX_SUBSCRIPTIONS);
  if (env.STOMP_HEARTBEAT) {
    const [out, inc] = env.STOMP_HEARTBEAT.split(',');
    heartbeat.outgoingMs = int('STOMP_HEARTBEAT', out ?? '');
    heartbeat.incomingMs = int('STOMP_HEARTBEAT', inc ?? '');
  }
  if (env.NODE_TTL_MS) cluster.nodeTtlMs = int('NODE_TTL_MS', env.NODE_TTL_MS);
  if (env.NODE_HEARTBEAT_MS) cluster.heartbeatIntervalMs = int('NODE_HEARTBEAT_MS', env.NODE_HEARTBEAT_MS);
  if (env.DEAD_NODE_CHECK_MS) cluster.deadNodeCheckIntervalMs = int('DEAD_NODE_CHECK_MS', env.DEAD_NODE_CHECK_MS);
  if (env.MAX_HOPS) cluster.maxHops = int('MAX_HOPS', env.MAX_HOPS);
  if (env.NODE_FEATURES !== undefined) cluster.features = env.NODE_FEATURES.split(',').map((f) => f.trim()).filter((f) => f !== '');
  if (Object.keys(limits).length) c.limits = limits;
  if (Object.keys(cluster).length) c.cluster = cluster;
  if (Object.keys(heartbeat).length) c.heartbeat = heartbeat;
  const inbox: Partial<InboxOptions> = {};
  if (env.INBOX_MAX_LENGTH) inbox.maxLength = int('INBOX_MAX_LENGTH', env.INBOX_MAX_LENGTH);
  if (env.INBOX_MAX_AGE_MS) inbox.maxAgeMs = int('INBOX_MAX_AGE_MS', env.INBOX_MAX_AGE_MS);
  if (env.INBOX_DESTINATIONS) inbox.destinations = list(env.INBOX_DESTINATIONS);
  if (Object.keys(inbox).length) c.inbox = inbox;
  const jwt: Partial<JwtConfig> = {};
  if (env.STOMP_JWT_SECRET) jwt.secret = env.STOMP_JWT_SECRET;
  if (env.STOMP_JWT_JWKS_URL) jwt.jwksUrl = env.STOMP_JWT_JWKS_URL;
  if (env.STOMP_JWT_ISSUER) jwt.issuer = env.STOMP_JWT_ISSUER;
  if (env.STOMP_JWT_AUDIENCE) jwt.audience = env.STOMP_JWT_AUDIENCE;
  if (env.STOMP_JWT_USER_CLAIM) jwt.userClaim = env.STOMP_JWT_USER_CLAIM;
  if (Object.keys(jwt).length) c.jwt = jwt;
  return c;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Merge partial configs over the defaults (later wins), then validate. */
export function resolveConfig(...parts: Array<DeepPartial<BrokerConfig> | undefined>): BrokerConfig {
  const out = structuredClone(DEFAULTS) as unknown as Record<string, unknown>;
  for (const part of parts) {
    if (!part) continue;
    for (const [k, v] of Object.entries(part)) {
      if (v === undefined || !(k in DEFAULTS)) continue;
      const cur = out[k];
      if (isPlainObject(cur) && isPlainObject(v) && k !== 'users') out[k] = { ...cur, ...v };
      else out[k] = v;
    }
  }
  const cfg = out as unknown as BrokerConfig;
  validateConfig(cfg);
  return cfg;
}

function prefixOk(p: string): boolean {
  return p.startsWith('/') && !p.endsWith('/') && p.length > 1;
}

export function validateConfig(c: BrokerConfig): void {
  const errs: string[] = [];
  if (!Number.isInteger(c.port) || c.port < 0 || c.port > 65535) errs.push(`port ${c.port} out of range`);
  if (c.tcpPort !== null && (!Number.isInteger(c.tcpPort) || c.tcpPort < 0 || c.tcpPort > 65535))
    errs.push(`tcpPort ${c.tcpPort} out of range`);
  if (c.endpoints.length === 0) errs.push('at least one endpoint is required');
  for (const e of c.endpoints) if (!prefixOk(e)) errs.push(`endpoint "${e}" must start with / and not end with /`);
  const all = [...c.appPrefixes, ...c.topicPrefixes, ...c.queuePrefixes, c.userPrefix];
  for (const p of all) if (!prefixOk(p)) errs.push(`destination prefix "${p}" must start with / and not end with /`);
  if (new Set(all).size !== all.length) errs.push('destination prefixes must be distinct');
  if ((c.redisUrl === null) !== (c.kafkaBrokers === null))
    errs.push('a cluster node needs both REDIS_URL and KAFKA_BROKERS (set both, or neither for a single node)');
  const l = c.limits;
  for (const [k, v] of Object.entries(l)) if (!Number.isInteger(v) || v <= 0) errs.push(`limits.${k} must be a positive integer`);
  if (l.maxWebSocketMessageBytes < l.maxFrameBytes)
    errs.push('limits.maxWebSocketMessageBytes must be at least limits.maxFrameBytes');
  if (c.heartbeat.outgoingMs < 0 || c.heartbeat.incomingMs < 0) errs.push('heart-beat values must be >= 0');
  if (c.heartbeat.graceFactor < 1) errs.push('heartbeat.graceFactor must be >= 1');
  if (c.cluster.heartbeatIntervalMs >= c.cluster.nodeTtlMs)
    errs.push('cluster.heartbeatIntervalMs must be shorter than cluster.nodeTtlMs');
  if (c.cluster.maxHops < 0) errs.push('cluster.maxHops must be >= 0');
  if (c.jwt.secret && c.jwt.jwksUrl) errs.push('jwt: set either a secret or a JWKS URL, not both');
  if (c.nodeId !== null && !/^[A-Za-z0-9._-]{1,100}$/.test(c.nodeId))
    errs.push('NODE_ID may only contain letters, digits, ".", "_" and "-" (it names a Kafka topic)');
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(c.clusterPrefix))
    errs.push('CLUSTER_PREFIX may only contain letters, digits, ".", "_" and "-" (it names Kafka topics)');
  if (errs.length) throw new Error(`Invalid stomp-cluster configuration:\n  - ${errs.join('\n  - ')}`);
}

/**
 * The environment variables of docs/design.md "Configuration", read into a
 * partial configuration (src/config.ts resolves it over the defaults and
 * validates it). A malformed value fails at start with a message naming it.
 */
import type { BrokerConfig, ClusterOptions, DeepPartial, HeartbeatOptions, HttpOptions, InboxOptions, JwtConfig, Limits, MetricsOptions } from './config.js';

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
  if (env.STOMP_DEAD_LETTER_QUEUE) c.deadLetterQueue = env.STOMP_DEAD_LETTER_QUEUE;
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
  if (env.STOMP_MAX_PATTERN_SUBSCRIPTIONS)
    limits.maxPatternSubscriptionsPerSession = int('STOMP_MAX_PATTERN_SUBSCRIPTIONS', env.STOMP_MAX_PATTERN_SUBSCRIPTIONS);
  if (env.STOMP_MAX_TOPIC_PATTERNS) limits.maxTopicPatterns = int('STOMP_MAX_TOPIC_PATTERNS', env.STOMP_MAX_TOPIC_PATTERNS);
  if (env.STOMP_MAX_UNACKED_BYTES) limits.maxUnackedBytesPerSession = int('STOMP_MAX_UNACKED_BYTES', env.STOMP_MAX_UNACKED_BYTES);
  if (env.STOMP_MAX_TRANSACTION_BYTES) limits.maxTransactionBytesPerSession = int('STOMP_MAX_TRANSACTION_BYTES', env.STOMP_MAX_TRANSACTION_BYTES);
  if (env.STOMP_MAX_HELD_BYTES) limits.maxHeldBytes = int('STOMP_MAX_HELD_BYTES', env.STOMP_MAX_HELD_BYTES);
  if (env.STOMP_MAX_HELD_BYTES_PER_SENDER) limits.maxHeldBytesPerSender = int('STOMP_MAX_HELD_BYTES_PER_SENDER', env.STOMP_MAX_HELD_BYTES_PER_SENDER);
  if (env.STOMP_QUEUE_MAX_AGE_MS) limits.maxQueueAgeMs = int('STOMP_QUEUE_MAX_AGE_MS', env.STOMP_QUEUE_MAX_AGE_MS);
  if (env.STOMP_HEARTBEAT) {
    const [out, inc] = env.STOMP_HEARTBEAT.split(',');
    heartbeat.outgoingMs = int('STOMP_HEARTBEAT', out ?? '');
    heartbeat.incomingMs = int('STOMP_HEARTBEAT', inc ?? '');
  }
  if (env.STOMP_HEARTBEAT_MIN_MS) heartbeat.minMs = int('STOMP_HEARTBEAT_MIN_MS', env.STOMP_HEARTBEAT_MIN_MS);
  if (env.STOMP_HEARTBEAT_MAX_MS) heartbeat.maxMs = int('STOMP_HEARTBEAT_MAX_MS', env.STOMP_HEARTBEAT_MAX_MS);
  const http: Partial<HttpOptions> = {};
  if (env.STOMP_HTTP_REQUEST_TIMEOUT_MS) http.requestTimeoutMs = int('STOMP_HTTP_REQUEST_TIMEOUT_MS', env.STOMP_HTTP_REQUEST_TIMEOUT_MS);
  if (env.STOMP_MAX_CONNECTIONS) http.maxConnections = int('STOMP_MAX_CONNECTIONS', env.STOMP_MAX_CONNECTIONS);
  if (Object.keys(http).length) c.http = http;
  const metrics: Partial<MetricsOptions> = {};
  if (env.METRICS_TOKEN) metrics.token = env.METRICS_TOKEN;
  if (env.METRICS_PORT) metrics.port = int('METRICS_PORT', env.METRICS_PORT);
  if (env.METRICS_HOST) metrics.host = env.METRICS_HOST;
  if (Object.keys(metrics).length) c.metrics = metrics;
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
  if (env.STOMP_JWT_REQUIRE_EXP) jwt.requireExp = bool('STOMP_JWT_REQUIRE_EXP', env.STOMP_JWT_REQUIRE_EXP);
  if (Object.keys(jwt).length) c.jwt = jwt;
  return c;
}

/**
 * One typed defaults object, overridable by options (createBroker), the
 * environment (docs/design.md "Configuration") and CLI flags (main.ts).
 * Bad combinations fail at start with a clear message.
 */

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
  /** Max body bytes of the unacknowledged messages held for one session (client ack modes). */
  maxUnackedBytesPerSession: number;
  /** Max bytes of the frames buffered in one session's open transactions. */
  maxTransactionBytesPerSession: number;
  /**
   * Max bytes the node holds for absent consumers: queue backlogs, memory inboxes,
   * open transactions (src/broker/budget.ts). Past it, SENDs that would be held are refused.
   */
  maxHeldBytes: number;
  /** Max of maxHeldBytes one sender (a user, or one session without a user) may take. */
  maxHeldBytesPerSender: number;
  /** Messages waiting in a /queue backlog longer than this are dropped. */
  maxQueueAgeMs: number;
  /** Max messages kept by one /queue destination while nobody consumes it. */
  maxQueueDepth: number;
  /** A connection that sends no CONNECT within this time is closed. */
  connectTimeoutMs: number;
  /** Max characters of a subscription pattern (a destination with `*` or `{`). */
  maxPatternLength: number;
  /** Max wildcards (`*`, `{name}`, `**`) in a subscription pattern. */
  maxPatternWildcards: number;
  /** Max subscriptions with a pattern held by one session (each is matched against what is published). */
  maxPatternSubscriptionsPerSession: number;
  /** Max distinct /topic patterns subscribed on one node (sessions sharing a pattern count it once). */
  maxTopicPatterns: number;
}

/**
 * Heart-beating (STOMP 1.2 "Heart-beating"). CONNECTED offers `outgoingMs,incomingMs`
 * (small by default: what the server can do), so the client's own wish decides each
 * direction; every negotiated interval is then held within [minMs, maxMs].
 */
export interface HeartbeatOptions {
  /** How often the server can send, ms (CONNECTED heart-beat first value). 0 = never. */
  outgoingMs: number;
  /** How often the server can take heart-beats, ms (CONNECTED heart-beat second value). 0 = never. */
  incomingMs: number;
  /** A silent client is closed after the negotiated read interval times this factor. */
  graceFactor: number;
  /** Floor of a negotiated interval, ms (a client asking for beats every 1 ms gets this). */
  minMs: number;
  /** Ceiling of a negotiated interval, ms (a client offering 35 days gets this). */
  maxMs: number;
}

/** Where /metrics is served, and who may read it. */
export interface MetricsOptions {
  /** Bearer token /metrics requires (METRICS_TOKEN); null = open. */
  token: string | null;
  /** Serve /metrics on its own listener on this port instead of the main one (METRICS_PORT); null = the main port. */
  port: number | null;
  /** Address of that listener (METRICS_HOST; default: HOST). */
  host: string | null;
}

/** The HTTP listener's own bounds (Fastify / node:http). */
export interface HttpOptions {
  /** A request (headers and body) must arrive whole within this time, or its connection is closed. */
  requestTimeoutMs: number;
  /** Open connections per node, over the HTTP/WebSocket and TCP listeners together; more are dropped at once. */
  maxConnections: number;
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
   * Features this node announces to the others (src/cluster/features.ts); unset =
   * all this version has. Only for tests that play an older node (NODE_FEATURES).
   */
  features?: string[];
}

/**
 * The Kafka bus of a cluster node (src/cluster/kafka; KAFKA_BROKERS). Topic
 * names use CLUSTER_PREFIX; the broker addresses come from KAFKA_BROKERS.
 */
export interface KafkaOptions {
  /** Partitions of each node topic (one user's order is kept at any count). */
  partitions: number;
  /** Partitions of the broadcast topic. */
  broadcastPartitions: number;
  /** Replication factor of created topics; -1 = the broker's default.replication.factor. */
  replicationFactor: number;
  /**
   * Largest encoded envelope (body + ~200 bytes of metadata) the bus carries: sets the
   * producer's message.max.bytes and the created topics' max.message.bytes (Kafka's
   * default of ~1 MB would refuse a STOMP frame at the codec's 1 MiB limit).
   */
  maxMessageBytes: number;
  /** Bound on starting the bus: topic creation, connections, assignment. */
  startTimeoutMs: number;
  /** How long closing waits for handlers in flight (what did not finish stays uncommitted: a drain re-delivers it). */
  closeTimeoutMs: number;
  /** Bound on draining one dead node's topic (on timeout the topic is left for a retry). */
  drainTimeoutMs: number;
  /** How long a send may wait for its delivery report (librdkafka message.timeout.ms). */
  sendTimeoutMs: number;
  /** How long a send to a topic the broker does not know waits before failing. */
  unknownTopicTimeoutMs: number;
  /** Extra attempts after a handler rejects (then the envelope is logged and skipped). */
  handlerRetries: number;
  /** First retry delay (ms), doubled each attempt, capped at 5 s. */
  handlerRetryDelayMs: number;
  /**
   * Received envelopes buffered before the consumer pauses fetching (a batch counts as
   * its envelopes). Pausing makes librdkafka fetch again on resume, so this is a memory
   * bound for a stalled handler, not a flow control to hit at full speed.
   */
  maxBuffered: number;
  /**
   * Own-topic offsets are committed at most this often (ms; 0 = every turn that handled
   * envelopes): only handled envelopes are committed, so the interval only widens what a
   * killed node's drain hands over again (duplicates, never losses).
   */
  commitIntervalMs: number;
  /** librdkafka client.id prefix. */
  clientId: string;
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
  /** Refuse tokens without `exp` (STOMP_JWT_REQUIRE_EXP, default true). */
  requireExp: boolean;
}

export interface BrokerConfig {
  port: number;
  host: string;
  /** WebSocket/SockJS endpoint paths. */
  endpoints: string[];
  /** Plain STOMP over TCP; null = off. */
  tcpPort: number | null;
  /** Address of the TCP listener (STOMP_TCP_HOST); null = the same as `host`. */
  tcpHost: string | null;
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
  /** Where a queue message NACKed with `requeue:false` goes (a /queue destination); null = dropped. */
  deadLetterQueue: string | null;
  /**
   * Browser origins allowed to connect (src/transport/origin.ts): `*`, `same-origin`,
   * origins, `https://*.example.com`. null: same-origin when cookie tokens are
   * accepted (default JWT authentication), else any.
   */
  allowedOrigins: string[] | null;
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
  http: HttpOptions;
  metrics: MetricsOptions;
  limits: Limits;
  cluster: ClusterOptions;
  inbox: InboxOptions;
  kafka: KafkaOptions;
  logLevel: string;
  /** SockJS endpoints alongside raw WebSocket (Spring's withSockJS()). */
  sockjs: boolean;
  /** Bearer token protecting the HTTP API; null = API off. */
  apiToken: string | null;
  /** JWT authentication at CONNECT, used when no authenticate hook is given and a secret or JWKS URL is set. */
  jwt: JwtConfig;
}

export const VERSION = '0.1.0';

/** The longest delay a Node.js timer takes (2^31-1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const DEFAULTS: BrokerConfig = {
  port: 8080,
  host: '0.0.0.0',
  endpoints: ['/ws'],
  tcpPort: null,
  tcpHost: null,
  redisUrl: null,
  kafkaBrokers: null,
  nodeId: null,
  clusterPrefix: 'stomp-cluster',
  appPrefixes: ['/app'],
  topicPrefixes: ['/topic'],
  queuePrefixes: ['/queue'],
  userPrefix: '/user',
  deadLetterQueue: null,
  allowedOrigins: null,
  users: {},
  allowClientSendToUser: true,
  serverName: `stomp-cluster/${VERSION}`,
  heartbeat: { outgoingMs: 1_000, incomingMs: 1_000, graceFactor: 1.5, minMs: 1_000, maxMs: 60 * 60 * 1000 },
  http: { requestTimeoutMs: 30_000, maxConnections: 10_000 },
  metrics: { token: null, port: null, host: null },
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
    maxUnackedBytesPerSession: 32 * 1024 * 1024,
    maxTransactionBytesPerSession: 16 * 1024 * 1024,
    maxHeldBytes: 256 * 1024 * 1024,
    maxHeldBytesPerSender: 64 * 1024 * 1024,
    maxQueueAgeMs: 24 * 60 * 60 * 1000,
    maxQueueDepth: 10_000,
    connectTimeoutMs: 10_000,
    maxPatternLength: 1024,
    maxPatternWildcards: 16,
    maxPatternSubscriptionsPerSession: 100,
    maxTopicPatterns: 10_000,
  },
  cluster: { nodeTtlMs: 6_000, heartbeatIntervalMs: 2_000, deadNodeCheckIntervalMs: 2_000, maxHops: 3 },
  inbox: { maxLength: 1_000, maxAgeMs: 24 * 60 * 60 * 1000, destinations: ['/user/queue/**'] },
  kafka: {
    partitions: 1,
    broadcastPartitions: 1,
    replicationFactor: -1,
    maxMessageBytes: 8 * 1024 * 1024,
    startTimeoutMs: 30_000,
    closeTimeoutMs: 10_000,
    drainTimeoutMs: 60_000,
    sendTimeoutMs: 30_000,
    unknownTopicTimeoutMs: 5_000,
    handlerRetries: 5,
    handlerRetryDelayMs: 50,
    maxBuffered: 10_000,
    commitIntervalMs: 100,
    clientId: 'stomp-cluster',
  },
  logLevel: 'info',
  sockjs: true,
  apiToken: null,
  jwt: { secret: null, jwksUrl: null, issuer: null, audience: null, userClaim: 'sub', requireExp: true },
};

/** A config with every field optional, one level into each section (what options, env and flags give). */
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : Partial<T[K]>) : T[K] };

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
  if (c.metrics.port !== null && (!Number.isInteger(c.metrics.port) || c.metrics.port < 0 || c.metrics.port > 65535))
    errs.push(`metrics.port ${c.metrics.port} out of range`);
  if (c.endpoints.length === 0) errs.push('at least one endpoint is required');
  for (const e of c.endpoints) if (!prefixOk(e)) errs.push(`endpoint "${e}" must start with / and not end with /`);
  const all = [...c.appPrefixes, ...c.topicPrefixes, ...c.queuePrefixes, c.userPrefix];
  for (const p of all) if (!prefixOk(p)) errs.push(`destination prefix "${p}" must start with / and not end with /`);
  if (new Set(all).size !== all.length) errs.push('destination prefixes must be distinct');
  const dl = c.deadLetterQueue;
  if (dl !== null && !c.queuePrefixes.some((p) => dl.startsWith(p + '/') && dl.length > p.length + 1))
    errs.push(`deadLetterQueue (STOMP_DEAD_LETTER_QUEUE) "${dl}" must be a queue destination (under ${c.queuePrefixes.join(', ')})`);
  if ((c.redisUrl === null) !== (c.kafkaBrokers === null))
    errs.push('a cluster node needs both REDIS_URL and KAFKA_BROKERS (set both, or neither for a single node)');
  const l = c.limits;
  for (const [k, v] of Object.entries(l)) if (!Number.isInteger(v) || v <= 0) errs.push(`limits.${k} must be a positive integer`);
  if (l.maxHeldBytesPerSender > l.maxHeldBytes) errs.push('limits.maxHeldBytesPerSender must be at most limits.maxHeldBytes');
  if (l.maxWebSocketMessageBytes < l.maxFrameBytes)
    errs.push('limits.maxWebSocketMessageBytes must be at least limits.maxFrameBytes');
  const hb = c.heartbeat;
  if (hb.outgoingMs < 0 || hb.incomingMs < 0) errs.push('heart-beat values must be >= 0');
  if (hb.graceFactor < 1) errs.push('heartbeat.graceFactor must be >= 1');
  if (!(hb.minMs >= 1 && hb.minMs <= hb.maxMs)) errs.push('heartbeat.minMs (STOMP_HEARTBEAT_MIN_MS) must be at least 1 and at most heartbeat.maxMs');
  // Node's timers hold at most 2^31-1 ms; a longer interval silently becomes 1 ms.
  if (!(hb.maxMs * hb.graceFactor <= MAX_TIMER_MS)) errs.push(`heartbeat.maxMs (STOMP_HEARTBEAT_MAX_MS) times graceFactor must be at most ${MAX_TIMER_MS} ms`);
  if (!(c.http.requestTimeoutMs >= 1 && c.http.requestTimeoutMs <= MAX_TIMER_MS)) errs.push('http.requestTimeoutMs (STOMP_HTTP_REQUEST_TIMEOUT_MS) must be between 1 ms and about 24 days');
  if (!(c.http.maxConnections >= 1)) errs.push('http.maxConnections (STOMP_MAX_CONNECTIONS) must be at least 1');
  if (l.connectTimeoutMs > MAX_TIMER_MS) errs.push(`limits.connectTimeoutMs must be at most ${MAX_TIMER_MS} ms`);
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

/**
 * Bus over Apache Kafka (node-rdkafka / librdkafka).
 *
 * Topics (p = prefix, `CLUSTER_PREFIX`; docs/design.md "Kafka topics, keys and offsets"):
 *   p.node.<nodeId>   one per node; created by start(), deleted on a graceful
 *                     leave or by the survivor that drains it (drainNode).
 *   p.broadcast       shared by every node; created by whoever starts first.
 *
 * Receiving. One KafkaConsumer per node reads both topics by explicit
 * assignment (no group membership, so no rebalances and no session timeouts to
 * wait out when a node dies):
 *   - its own topic from the committed offset of group `p.node.<nodeId>`
 *     (earliest if none), so a restarted node with a fixed NODE_ID resumes;
 *   - the broadcast topic from its current end (high watermark), read before
 *     start() resolves, so nothing broadcast after start() is missed and nothing
 *     older is replayed. Broadcast offsets are never committed.
 * The handler runs for one partition's envelopes one at a time, in order. An
 * own-topic offset is committed only after the handler resolved for every
 * envelope of that message and every earlier one of the partition, and after
 * `hooks.settled()` (their socket writes left the process); commits are
 * coalesced: at most one per `commitIntervalMs`. A handler that throws is retried with
 * backoff; after `handlerRetries` more failures the envelope is logged at error
 * level and skipped, so one poisonous envelope cannot wedge a node forever.
 *
 * Sending. One idempotent producer. Envelopes sent in one event-loop turn to
 * the same topic travel as one Kafka message (an envelope batch, see
 * ../envelope.ts), produced at the end of the turn: a burst costs the broker,
 * librdkafka and the receiving node one record instead of one per envelope,
 * and adds no waiting (nothing is held back for a later turn). On a topic with
 * more than one partition the batch is per key instead — the user (or, for
 * topic/event envelopes, the destination) — so one user's envelopes keep their
 * order. sendToNode()/broadcast() resolve on the delivery report of the
 * message that carried the envelope. The producer never auto-creates topics: sending to a node whose
 * topic is gone fails (CLUSTER_ERR_BUS_SEND) instead of resurrecting it.
 *
 * drainNode(). A short-lived consumer in the dead node's group reads the dead
 * topic from its committed offset to the high watermark (re-checked until it
 * stops growing), hands each envelope to the handler in order, commits, then
 * deletes the topic. Kafka drops a deleted topic's committed offsets itself;
 * node-rdkafka 3.6 has no DeleteGroups call, and the empty group expires.
 */
import Kafka from 'node-rdkafka';
import type {
  Assignment,
  ConsumerGlobalConfig,
  IAdminClient,
  KafkaConsumer,
  LibrdKafkaError,
  Message,
  Metadata,
  Producer,
  ProducerGlobalConfig,
  TopicPartition,
  TopicPartitionOffset,
  WatermarkOffsets,
} from 'node-rdkafka';
import type { Bus, BusHooks, Envelope, EnvelopeHandler } from '../types.js';
import { batchOverhead, decodeEnvelopes, encodeEnvelope, encodeEnvelopeBatch, envelopeCount } from '../envelope.js';
import { ClusterError, ClusterErrorCode, type ClusterLogger, isClusterError, silentLogger } from '../errors.js';

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

type Resolved = Required<Omit<KafkaBusOptions, 'logger' | 'topicConfig' | 'producerConfig' | 'consumerConfig'>>;

const DEFAULTS: Omit<Resolved, 'brokers'> = {
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

/** Protocol framing allowance on top of maxMessageBytes. */
const FRAMING_BYTES = 64 * 1024;

const ERR = Kafka.CODES.ERRORS;
/** librdkafka logical offset: the partition's first offset. */
const OFFSET_BEGINNING = -2;
/** How often the producer is polled for delivery reports while some are outstanding. */
const DELIVERY_POLL_MS = 1;
/** ... and otherwise (error/log events only). */
const IDLE_POLL_MS = 200;
/** How long one blocking consume call waits for a first message when there is none. */
const CONSUME_WAIT_MS = 50;
/** How often the own topic's high watermark is read for lag(). */
const LAG_REFRESH_MS = 5000;
/** Messages taken at most per batch (the first one, then what is already fetched). */
const CONSUME_BATCH = 500;
/** Envelopes at most in one produced batch. */
const SEND_BATCH_MAX = 1000;
/** Bytes at most in one produced batch (and never more than maxMessageBytes). */
const SEND_BATCH_BYTES = 1024 * 1024;

type State = 'idle' | 'starting' | 'started' | 'closing' | 'closed';

/** One assigned partition of the running consumer. */
interface PartitionState {
  topic: string;
  partition: number;
  /** Own topic: offsets are committed. Broadcast: never. */
  commits: boolean;
  queue: Message[];
  /** The loop working through `queue`, while it runs. */
  loop: Promise<void> | null;
  /** Offset to commit next (last handled + 1); -1 = nothing handled yet. */
  done: number;
  /** Offset last committed (or being committed); -1 = none. */
  committed: number;
}

interface PendingDelivery {
  resolve(): void;
  reject(err: Error): void;
}

/** Envelopes for one topic (and key, on a partitioned topic) waiting for the end of the turn. */
interface OutBatch {
  topic: string;
  key: string | null;
  values: Buffer[];
  bytes: number;
  waiters: PendingDelivery[];
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function kafkaError(err: unknown): LibrdKafkaError | null {
  return err && typeof err === 'object' && 'code' in err ? (err as LibrdKafkaError) : null;
}

function errCode(err: unknown): number | undefined {
  return kafkaError(err)?.code;
}

/** Errors meaning "this topic or partition does not exist (any more)". */
function isUnknownTopic(err: unknown): boolean {
  const c = errCode(err);
  return c === ERR.ERR_UNKNOWN_TOPIC_OR_PART || c === ERR.ERR__UNKNOWN_TOPIC || c === ERR.ERR__UNKNOWN_PARTITION;
}

/** Races `p` against `ms`; resolves to 'timeout' if the time ran out first. */
async function boundedWait<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export class KafkaBus implements Bus {
  readonly options: Resolved;
  private readonly log: ClusterLogger;
  private readonly topicConfig: Record<string, string>;
  private readonly producerConfig: Partial<ProducerGlobalConfig>;
  private readonly consumerConfig: Partial<ConsumerGlobalConfig>;

  private state: State = 'idle';
  private nodeId: string | null = null;
  private handler: EnvelopeHandler | null = null;
  private hooks: BusHooks = {};
  /** Envelopes sent this turn, by topic (and key on partitioned topics). */
  private readonly outBatches = new Map<string, OutBatch>();
  private flushScheduled = false;
  /** Batches closed and waiting to be handed to librdkafka, in order. */
  private readonly sendQueue: OutBatch[] = [];
  private pumping: Promise<void> | null = null;
  /** The commit running (it may be waiting for hooks.settled()), and whether to run once more after it. */
  private committing: Promise<void> | null = null;
  private commitAgain = false;
  private commitSync = false;

  private admin: IAdminClient | null = null;
  private producer: Promise<Producer> | null = null;
  private producerClosed = false;
  private consumer: KafkaConsumer | null = null;
  private readonly parts = new Map<string, PartitionState>();
  private buffered = 0;
  private paused = false;
  private pauses = 0;
  /** Commits are accepted until close() made its final commit. */
  private acceptCommits = false;
  /** Set by leave(): the main consumer stops taking envelopes. */
  private leaving = false;
  private lagTimer: NodeJS.Timeout | null = null;
  /** Own-topic partition key -> last high watermark read. */
  private readonly highWatermarks = new Map<string, number>();
  private commitScheduled = false;
  private lastCommitAt = 0;

  private readonly deliveries = new Map<number, PendingDelivery>();
  private nextOpaque = 1;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollFast = false;

  private readonly drains = new Set<Promise<unknown>>();
  /** The consume(n) loop of the main consumer while it runs. */
  private consumeLoop: Promise<void> | null = null;
  private starting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(opts: KafkaBusOptions) {
    if (!opts || typeof opts.brokers !== 'string' || opts.brokers.trim() === '') {
      throw new ClusterError(ClusterErrorCode.INVALID_STATE, 'KafkaBus: `brokers` (host:port,...) is required');
    }
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<Resolved>;
    this.options = { ...DEFAULTS, ...defined, brokers: opts.brokers };
    if (!/^[A-Za-z0-9._-]+$/.test(this.options.prefix)) {
      throw new ClusterError(
        ClusterErrorCode.INVALID_STATE,
        `KafkaBus: prefix "${this.options.prefix}" may only contain letters, digits, '.', '_' and '-'`,
      );
    }
    this.log = opts.logger ?? silentLogger;
    this.topicConfig = opts.topicConfig ?? {};
    this.producerConfig = opts.producerConfig ?? {};
    this.consumerConfig = opts.consumerConfig ?? {};
  }

  // -------------------------------------------------------------------------
  // names

  nodeTopic(nodeId: string): string {
    return `${this.options.prefix}.node.${nodeId}`;
  }

  nodeGroup(nodeId: string): string {
    return `${this.options.prefix}.node.${nodeId}`;
  }

  get broadcastTopic(): string {
    return `${this.options.prefix}.broadcast`;
  }

  // -------------------------------------------------------------------------
  // start

  start(nodeId: string, handler: EnvelopeHandler, hooks: BusHooks = {}): Promise<void> {
    if (this.state !== 'idle') {
      return Promise.reject(new ClusterError(ClusterErrorCode.INVALID_STATE, `KafkaBus.start(): bus is ${this.state}`));
    }
    if (!/^[A-Za-z0-9._-]+$/.test(nodeId)) {
      return Promise.reject(
        new ClusterError(ClusterErrorCode.INVALID_STATE, `KafkaBus: node id "${nodeId}" is not a valid topic name part`),
      );
    }
    this.state = 'starting';
    this.hooks = hooks;
    this.starting = this.doStart(nodeId, handler);
    return this.starting;
  }

  private async doStart(nodeId: string, handler: EnvelopeHandler): Promise<void> {
    this.nodeId = nodeId;
    this.handler = handler;
    const deadline = Date.now() + this.options.startTimeoutMs;
    const own = this.nodeTopic(nodeId);
    const bc = this.broadcastTopic;
    try {
      await Promise.all([
        this.createTopic(own, this.options.partitions),
        this.createTopic(bc, this.options.broadcastPartitions),
      ]);
      const [producer, connected] = await Promise.allSettled([
        this.ensureProducer(),
        this.connectConsumer(this.mainConsumerConfig(nodeId), own, deadline),
      ]);
      // Keep whatever connected, so that a failure below still disconnects it.
      if (connected.status === 'fulfilled') this.consumer = connected.value;
      if (producer.status === 'rejected') throw producer.reason;
      if (connected.status === 'rejected') throw connected.reason;
      const consumer = connected.value;
      consumer.on('offset.commit', (err: LibrdKafkaError, tps: TopicPartitionOffset[]) => this.onCommitted(err, tps));
      consumer.on('event.error', (err: LibrdKafkaError) => this.log.warn({ err, nodeId }, 'kafka consumer error'));

      const [ownParts, bcParts] = await Promise.all([
        this.partitionsOf(consumer, own, deadline, false),
        this.partitionsOf(consumer, bc, deadline, false),
      ]);
      const committed = await this.committedOffsets(consumer, own, ownParts, deadline);
      const bcEnds = await Promise.all(bcParts.map((p) => this.watermarks(consumer, bc, p, deadline)));

      const assignment: TopicPartitionOffset[] = [
        ...ownParts.map((p) => ({ topic: own, partition: p, offset: committed.get(p) ?? OFFSET_BEGINNING })),
        ...bcParts.map((p, i) => ({ topic: bc, partition: p, offset: bcEnds[i]!.highOffset })),
      ];
      for (const a of assignment) {
        const commits = a.topic === own;
        const c = commits && a.offset >= 0 ? a.offset : -1;
        this.parts.set(`${a.topic}/${a.partition}`, {
          topic: a.topic,
          partition: a.partition,
          commits,
          queue: [],
          loop: null,
          done: c,
          committed: c,
        });
      }
      consumer.assign(assignment);
      consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
      this.acceptCommits = true;
      this.state = 'started';
      this.consumeLoop = this.runConsumeLoop(consumer);
      this.lagTimer = setInterval(() => this.refreshWatermarks(), LAG_REFRESH_MS);
      this.lagTimer.unref?.();
      this.log.debug({ nodeId, assignment }, 'kafka bus started');
    } catch (err) {
      this.log.error({ err, nodeId }, 'kafka bus failed to start');
      // Leave a clean, closed bus behind: nothing half-started keeps running.
      this.state = 'closing';
      const done = this.shutdown({ deleteOwnTopic: false, commit: false });
      this.closing ??= done; // a later close() is then a no-op
      await done;
      throw err instanceof ClusterError
        ? err
        : new ClusterError(ClusterErrorCode.BUS_START, `KafkaBus.start(${nodeId}) failed: ${(err as Error).message}`, {
            cause: err,
          });
    }
  }

  private mainConsumerConfig(nodeId: string): ConsumerGlobalConfig {
    return this.consumerBase(this.nodeGroup(nodeId), `${this.options.clientId}-${nodeId}`, {
      offset_commit_cb: true,
    });
  }

  /**
   * Pull batches with consume(n) rather than node-rdkafka's flowing mode: the
   * flowing-mode thread leaks messages it handed over but JS had not yet seen
   * when the consumer disconnects, and then the disconnect hangs (or crashes)
   * under traffic. Here nothing is in flight once the loop has returned, so
   * stopConsumer() waits for it before disconnecting.
   *
   * Latency: a consume(n) call returns once it has n messages or waited its
   * timeout for the next one. So wait (blocking, up to CONSUME_WAIT_MS) for ONE
   * message — handed over the moment it arrives — then take whatever else is
   * already fetched without waiting (timeout 0).
   */
  private async runConsumeLoop(consumer: KafkaConsumer): Promise<void> {
    while (this.state === 'started' && !this.leaving) {
      let batch: Message[];
      try {
        consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
        batch = await this.consumeBatch(consumer, 1);
        if (batch.length > 0 && this.state === 'started' && !this.leaving) {
          consumer.setDefaultConsumeTimeout(0);
          batch = batch.concat(await this.consumeBatch(consumer, CONSUME_BATCH - 1));
        }
      } catch (err) {
        if (this.state !== 'started' || this.leaving) break;
        this.log.warn({ err, nodeId: this.nodeId }, 'kafka consume failed; retrying');
        await delay(100);
        continue;
      }
      for (const msg of batch) this.onMessage(msg);
    }
  }

  private consumerBase(groupId: string, clientId: string, extra: Partial<ConsumerGlobalConfig>): ConsumerGlobalConfig {
    return {
      'metadata.broker.list': this.options.brokers,
      'client.id': clientId,
      'group.id': groupId,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'allow.auto.create.topics': false,
      // Latency: the broker answers a fetch as soon as one byte is there, so a
      // message never waits for fetch.wait.max.ms; that only bounds how long an
      // EMPTY fetch is held. 100 ms (not 10) keeps an idle consumer at ~10
      // fetches/s instead of ~100: about 4x less broker CPU per idle node.
      // No Nagle delay on the sockets.
      'fetch.wait.max.ms': 100,
      'fetch.min.bytes': 1,
      'fetch.error.backoff.ms': 50,
      'socket.nagle.disable': true,
      'log.connection.close': false,
      ...extra,
      ...this.consumerConfig,
    };
  }

  // -------------------------------------------------------------------------
  // receive

  private onMessage(msg: Message): void {
    const ps = this.parts.get(`${msg.topic}/${msg.partition}`);
    // Not started (closing) or not ours: leave it uncommitted for whoever comes next.
    if (!ps || this.state !== 'started' || this.leaving) return;
    ps.queue.push(msg);
    this.buffered += envelopeCount(msg.value);
    if (!this.paused && this.buffered >= this.options.maxBuffered) this.setPaused(true);
    if (!ps.loop) ps.loop = this.runPartition(ps);
  }

  private async runPartition(ps: PartitionState): Promise<void> {
    try {
      while (ps.queue.length > 0 && this.state === 'started' && !this.leaving) {
        const msg = ps.queue.shift()!;
        this.buffered -= envelopeCount(msg.value);
        if (this.paused && this.buffered <= this.options.maxBuffered / 2) this.setPaused(false);
        if ((await this.handleMessage(msg, this.handler!)) < 0) break;
        ps.done = msg.offset + 1;
        if (ps.commits) this.scheduleCommit();
      }
    } finally {
      ps.loop = null;
    }
  }

  /**
   * Hand every envelope of one bus message to the handler, in order, with retries.
   * Returns how many envelopes the message held, or -1 if given up because the
   * bus is closing (the message is not handled: do not commit it).
   */
  private async handleMessage(msg: Message, handler: EnvelopeHandler, draining = false): Promise<number> {
    let envs: Envelope[];
    try {
      envs = decodeEnvelopes(msg.value, (err, index) =>
        this.log.error({ err, topic: msg.topic, partition: msg.partition, offset: msg.offset, index }, 'skipping an undecodable envelope of a batch'),
      );
    } catch (err) {
      // Garbage never blocks a partition: log it and move past it.
      this.log.error({ err, topic: msg.topic, partition: msg.partition, offset: msg.offset }, 'skipping undecodable bus message');
      return 0;
    }
    for (const env of envs) {
      // The common case: the handler finished synchronously, or resolves at the first try.
      let r: Promise<void> | void;
      try {
        r = handler(env);
      } catch (err) {
        r = Promise.reject(err);
      }
      if (r === undefined) continue;
      if (!(await this.retrying(r, env, msg, handler, draining))) return -1;
    }
    return envs.length;
  }

  /** Await a handler's first attempt, then retry with backoff. False if given up because the bus is closing. */
  private async retrying(first: Promise<void>, env: Envelope, msg: Message, handler: EnvelopeHandler, draining: boolean): Promise<boolean> {
    const where = { topic: msg.topic, partition: msg.partition, offset: msg.offset, envelopeId: env.id };
    const stopping = (): boolean =>
      draining ? this.state === 'closing' || this.state === 'closed' : this.state !== 'started' || this.leaving;
    for (let attempt = 0; ; attempt++) {
      try {
        await (attempt === 0 ? first : handler(env));
        return true;
      } catch (err) {
        if (attempt >= this.options.handlerRetries) {
          this.log.error({ err, ...where, attempts: attempt + 1 }, 'bus handler kept failing; envelope skipped');
          return true;
        }
        this.log.warn({ err, ...where, attempt: attempt + 1 }, 'bus handler failed; retrying');
      }
      if (stopping()) return false;
      await delay(Math.min(5000, this.options.handlerRetryDelayMs * 2 ** attempt));
      if (stopping()) return false;
    }
  }

  private setPaused(paused: boolean): void {
    const consumer = this.consumer;
    if (!consumer || !consumer.isConnected()) return;
    const tps: TopicPartition[] = [...this.parts.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
    try {
      if (paused) consumer.pause(tps);
      else consumer.resume(tps);
      if (paused) this.pauses++;
      this.paused = paused;
    } catch (err) {
      this.log.warn({ err }, paused ? 'kafka pause failed' : 'kafka resume failed');
    }
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    const run = (): void => {
      this.commitScheduled = false;
      this.lastCommitAt = Date.now();
      void this.commit(false);
    };
    const wait = this.lastCommitAt + this.options.commitIntervalMs - Date.now();
    if (wait <= 0) setImmediate(run);
    else setTimeout(run, wait).unref();
  }

  /**
   * Commit every own partition whose handled offset moved past its committed one,
   * once hooks.settled() says the writes for those envelopes left the process.
   * One commit runs at a time; a call meanwhile makes it run once more when it
   * ends (with the offsets handled by then) and resolves after that run, so
   * commits never queue up behind slow sockets and never land out of order.
   */
  private commit(sync: boolean): Promise<void> {
    this.commitSync ||= sync;
    if (this.committing) {
      this.commitAgain = true;
      return this.committing;
    }
    const loop = async (): Promise<void> => {
      do {
        this.commitAgain = false;
        const s = this.commitSync;
        this.commitSync = false;
        await this.commitOnce(s);
      } while (this.commitAgain);
    };
    const p = loop().finally(() => {
      this.committing = null;
    });
    this.committing = p;
    return p;
  }

  private async commitOnce(sync: boolean): Promise<void> {
    const tps: TopicPartitionOffset[] = [];
    for (const ps of this.parts.values()) {
      if (ps.commits && ps.done > ps.committed) tps.push({ topic: ps.topic, partition: ps.partition, offset: ps.done });
    }
    if (tps.length === 0 || !this.acceptCommits) return;
    if ((await this.settled()) === 'timeout') this.log.warn({ nodeId: this.nodeId }, 'writes not settled in time; committing anyway');
    const consumer = this.consumer;
    if (!this.acceptCommits || !consumer || !consumer.isConnected()) return;
    try {
      if (sync) consumer.commitSync(tps);
      else consumer.commit(tps);
      for (const tp of tps) {
        const ps = this.parts.get(`${tp.topic}/${tp.partition}`)!;
        ps.committed = Math.max(ps.committed, tp.offset);
      }
    } catch (err) {
      this.log.warn({ err, offsets: tps }, 'kafka commit failed');
    }
  }

  private onCommitted(err: LibrdKafkaError | null, tps: TopicPartitionOffset[]): void {
    if (!err || errCode(err) === ERR.ERR__NO_OFFSET) return;
    this.log.warn({ err, offsets: tps }, 'kafka commit failed; will retry with the next one');
    // Let the next commit (or the final one in close()) carry these offsets again.
    for (const tp of tps ?? []) {
      const ps = this.parts.get(`${tp.topic}/${tp.partition}`);
      if (ps && ps.committed >= tp.offset) ps.committed = -1;
    }
  }

  // -------------------------------------------------------------------------
  // send

  sendToNode(nodeId: string, env: Envelope): Promise<void> {
    return this.produce(this.nodeTopic(nodeId), env, nodeId);
  }

  broadcast(env: Envelope): Promise<void> {
    return this.produce(this.broadcastTopic, env, null);
  }

  /** hooks.settled(), bounded by closeTimeoutMs; never rejects (a failing hook is logged). */
  private async settled(): Promise<void | 'timeout'> {
    if (!this.hooks.settled) return;
    let pending: Promise<void>;
    try {
      pending = this.hooks.settled();
    } catch (err) {
      pending = Promise.reject(err);
    }
    return boundedWait(
      pending.catch((err: unknown) => this.log.warn({ err, nodeId: this.nodeId }, 'settled() hook failed')),
      this.options.closeTimeoutMs,
    );
  }

  /**
   * Queue an envelope for `topic` (node `target`'s, or null: broadcast); it leaves with the others
   * of this turn (see flushBatches), or alone while hooks.batching() says the reader cannot take batches.
   */
  private produce(topic: string, env: Envelope, target: string | null): Promise<void> {
    if (this.state === 'closed' || this.producerClosed) {
      return Promise.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed'));
    }
    const value = encodeEnvelope(env);
    const partitions = topic === this.broadcastTopic ? this.options.broadcastPartitions : this.options.partitions;
    // One partition (as configured here): everything for the topic may share a message, sent to
    // partition 0 explicitly, so the order holds even if the topic was created with more. More:
    // only one key's envelopes (the partitioner keeps a key in one partition, so its order holds).
    const key = partitions > 1 ? (env.user ?? env.destination) : null;
    const id = key === null ? topic : `${topic}\u0000${key}`;
    const limit = Math.min(SEND_BATCH_BYTES, this.options.maxMessageBytes);
    const max = this.hooks.batching?.(target) === false ? 1 : SEND_BATCH_MAX;
    let batch = this.outBatches.get(id);
    if (batch && (batch.values.length >= max || batch.bytes + value.length + batchOverhead(batch.values.length + 1) > limit)) {
      // Full: it goes now, ahead of anything gathered after it.
      this.outBatches.delete(id);
      this.sendQueue.push(batch);
      void this.pump();
      batch = undefined;
    }
    if (!batch) {
      batch = { topic, key, values: [], bytes: 0, waiters: [] };
      this.outBatches.set(id, batch);
    }
    batch.values.push(value);
    batch.bytes += value.length;
    const delivered = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flushBatches());
    }
    return delivered;
  }

  /** End of the turn: every batch gathered becomes one Kafka message. Resolves once all were handed to librdkafka. */
  private flushBatches(): Promise<void> {
    this.flushScheduled = false;
    for (const b of this.outBatches.values()) this.sendQueue.push(b);
    this.outBatches.clear();
    return this.pump();
  }

  /**
   * Hand queued batches to librdkafka strictly in order: when its queue is full,
   * the batch at the head waits (polling for delivery reports) and everything
   * behind it waits too, so a retry never overtakes a later batch.
   */
  private pump(): Promise<void> {
    this.pumping ??= this.runPump().finally(() => {
      this.pumping = null;
    });
    return this.pumping;
  }

  private async runPump(): Promise<void> {
    const queue = this.sendQueue;
    while (queue.length > 0) {
      let producer: Producer;
      try {
        if (this.producerClosed) throw new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed');
        producer = await this.ensureProducer();
      } catch (err) {
        for (const b of queue.splice(0)) for (const w of b.waiters) w.reject(err as Error);
        return;
      }
      const batch = queue[0]!;
      const failed = await this.produceBatch(producer, batch);
      queue.shift();
      if (failed) for (const w of batch.waiters) w.reject(failed);
    }
  }

  /** Produce one batch (a lone envelope goes as itself); its waiters settle on the delivery report. Returns the error if it could not be queued. */
  private async produceBatch(producer: Producer, batch: OutBatch): Promise<Error | null> {
    const { topic, waiters } = batch;
    const value = batch.values.length === 1 ? batch.values[0]! : encodeEnvelopeBatch(batch.values);
    const opaque = this.nextOpaque++;
    this.deliveries.set(opaque, {
      resolve: () => {
        for (const w of waiters) w.resolve();
      },
      reject: (err) => {
        for (const w of waiters) w.reject(err);
      },
    });
    const deadline = Date.now() + this.options.sendTimeoutMs;
    for (;;) {
      try {
        producer.produce(topic, batch.key === null ? 0 : null, value, batch.key, Date.now(), opaque);
        this.pollForDeliveries(true);
        return null;
      } catch (err) {
        // The local queue is full: let delivery reports drain it, then retry (bounded).
        if (errCode(err) === ERR.ERR__QUEUE_FULL && Date.now() < deadline && !this.producerClosed) {
          producer.poll();
          await delay(5);
          continue;
        }
        this.deliveries.delete(opaque);
        return new ClusterError(ClusterErrorCode.BUS_SEND, `send to ${topic} failed: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  private onDelivery(err: LibrdKafkaError | null, report: { opaque?: unknown; topic?: string }): void {
    const d = this.deliveries.get(report?.opaque as number);
    if (!d) return;
    this.deliveries.delete(report.opaque as number);
    if (this.deliveries.size === 0) this.pollForDeliveries(false);
    if (err) {
      d.reject(new ClusterError(ClusterErrorCode.BUS_SEND, `send to ${report.topic ?? '?'} failed: ${err.message}`, { cause: err }));
    } else {
      d.resolve();
    }
  }

  /** Poll fast while delivery reports are outstanding, slowly otherwise. */
  private pollForDeliveries(fast: boolean): void {
    if (this.pollFast === fast && this.pollTimer) return;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.pollFast = fast;
    const producer = this.producer;
    if (!producer || this.producerClosed) return;
    void producer.then((p) => {
      if (this.pollFast !== fast || this.pollTimer || this.producerClosed) return;
      const timer = setInterval(() => {
        try {
          p.poll();
        } catch {
          /* disconnected: shutdown() clears the timer */
        }
      }, fast ? DELIVERY_POLL_MS : IDLE_POLL_MS);
      if (!fast) timer.unref();
      this.pollTimer = timer;
    });
  }

  private ensureProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    if (this.producerClosed) return Promise.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed'));
    const conf: ProducerGlobalConfig = {
      'metadata.broker.list': this.options.brokers,
      'client.id': `${this.options.clientId}-${this.nodeId ?? 'client'}-producer`,
      dr_cb: true,
      'enable.idempotence': true,
      'linger.ms': 1,
      'socket.nagle.disable': true,
      'topic.metadata.propagation.max.ms': this.options.unknownTopicTimeoutMs,
      'allow.auto.create.topics': false,
      'message.max.bytes': this.options.maxMessageBytes + FRAMING_BYTES,
      'log.connection.close': false,
      ...this.producerConfig,
    };
    const producer = new Kafka.Producer(conf, { 'message.timeout.ms': this.options.sendTimeoutMs });
    producer.on('delivery-report', (err: LibrdKafkaError, report) => this.onDelivery(err, report));
    producer.on('event.error', (err: LibrdKafkaError) => this.log.warn({ err }, 'kafka producer error'));
    this.producer = new Promise<Producer>((resolve, reject) => {
      producer.connect({ topic: this.broadcastTopic, timeout: this.options.startTimeoutMs }, (err) => {
        if (err) reject(new ClusterError(ClusterErrorCode.BUS_START, `producer connect failed: ${err.message}`, { cause: err }));
        else resolve(producer);
      });
    });
    this.producer.then(
      () => this.pollForDeliveries(this.deliveries.size > 0),
      () => undefined,
    );
    return this.producer;
  }

  // -------------------------------------------------------------------------
  // drain

  drainNode(nodeId: string, handler: EnvelopeHandler): Promise<number> {
    if (this.state === 'closing' || this.state === 'closed') {
      return Promise.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed'));
    }
    const p = this.drain(nodeId, handler).catch((err: unknown) => {
      if (isClusterError(err, ClusterErrorCode.BUS_DRAIN) || isClusterError(err, ClusterErrorCode.CLOSED)) throw err;
      throw new ClusterError(ClusterErrorCode.BUS_DRAIN, `drain of node ${nodeId} failed: ${(err as Error).message}`, {
        cause: err,
      });
    });
    this.drains.add(p);
    const forget = (): void => void this.drains.delete(p);
    p.then(forget, forget);
    return p;
  }

  private async drain(nodeId: string, handler: EnvelopeHandler): Promise<number> {
    const topic = this.nodeTopic(nodeId);
    const deadline = Date.now() + this.options.drainTimeoutMs;
    const consumer = await this.connectConsumer(
      this.consumerBase(this.nodeGroup(nodeId), `${this.options.clientId}-${this.nodeId ?? 'client'}-drain`, {
        'enable.partition.eof': true,
      }),
      topic,
      deadline,
    );
    const position = new Map<number, number>();
    let count = 0;
    let finished = false;
    try {
      const parts = await this.partitionsOf(consumer, topic, deadline, true);
      if (parts.length === 0) {
        this.log.debug({ nodeId, topic }, 'no topic to drain');
        finished = true;
        return 0;
      }
      const committed = await this.committedOffsets(consumer, topic, parts, deadline);
      const end = new Map<number, number>();
      const assignment: Assignment[] = [];
      for (const p of parts) {
        const wm = await this.watermarks(consumer, topic, p, deadline, true);
        if (!wm) {
          finished = true;
          return 0; // deleted meanwhile
        }
        const start = Math.max(committed.get(p) ?? wm.lowOffset, wm.lowOffset);
        position.set(p, start);
        end.set(p, wm.highOffset);
        assignment.push({ topic, partition: p, offset: start });
      }
      this.log.debug({ nodeId, topic, assignment, end: Object.fromEntries(end) }, 'draining dead node topic');
      // End-of-partition events arrive before the batch they close is handed back:
      // collect them, and apply them after the batch's messages were handled.
      const eofs = new Map<number, number>();
      consumer.on('partition.eof', (eof: TopicPartitionOffset) => {
        if (eof.topic === topic) eofs.set(eof.partition, Math.max(eofs.get(eof.partition) ?? 0, eof.offset));
      });
      consumer.assign(assignment);
      consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);

      const behind = (): boolean => parts.some((p) => position.get(p)! < end.get(p)!);
      for (;;) {
        while (behind()) {
          if (this.state === 'closing' || this.state === 'closed') {
            throw new ClusterError(ClusterErrorCode.BUS_DRAIN, `drain of ${topic} aborted: bus closing`);
          }
          if (Date.now() > deadline) {
            throw new ClusterError(
              ClusterErrorCode.BUS_DRAIN,
              `drain of ${topic} timed out after ${this.options.drainTimeoutMs} ms (${count} handed over)`,
            );
          }
          const batch = await this.consumeBatch(consumer, 500);
          for (const msg of batch) {
            if (msg.topic !== topic || msg.offset < position.get(msg.partition)!) continue;
            const handled = await this.handleMessage(msg, handler, true);
            if (handled < 0) throw new ClusterError(ClusterErrorCode.BUS_DRAIN, `drain of ${topic} aborted: bus closing`);
            count += handled;
            position.set(msg.partition, msg.offset + 1);
          }
          // An EOF offset past the last message means a gap (e.g. transaction markers).
          for (const [p, off] of eofs) position.set(p, Math.max(position.get(p) ?? 0, off));
          eofs.clear();
          if (batch.length > 0) {
            await this.settled();
            this.commitPositions(consumer, topic, position, false);
          }
        }
        // Senders that did not yet know the node is dead may still have added a few:
        // read again until the end stops moving, then delete.
        let grew = false;
        for (const p of parts) {
          const wm = await this.watermarks(consumer, topic, p, deadline, true);
          if (wm && wm.highOffset > end.get(p)!) {
            end.set(p, wm.highOffset);
            grew = true;
          }
        }
        if (!grew) break;
      }
      finished = true;
      return count;
    } finally {
      if (position.size > 0) {
        await this.settled();
        this.commitPositions(consumer, topic, position, true);
      }
      await this.disconnect(consumer, 'drain consumer');
      if (finished) await this.deleteTopic(topic);
      this.log.info({ nodeId, topic, count, finished }, finished ? 'drained dead node topic' : 'drain of dead node topic stopped');
    }
  }

  private consumeBatch(consumer: KafkaConsumer, n: number): Promise<Message[]> {
    return new Promise((resolve, reject) => {
      consumer.consume(n, (err, msgs) => {
        if (!err) resolve(msgs ?? []);
        else if (errCode(err) === ERR.ERR__TIMED_OUT || errCode(err) === ERR.ERR__PARTITION_EOF) resolve([]);
        else if (isUnknownTopic(err)) resolve([]);
        else reject(err);
      });
    });
  }

  private commitPositions(consumer: KafkaConsumer, topic: string, position: Map<number, number>, sync: boolean): void {
    if (!consumer.isConnected()) return;
    const tps = [...position].filter(([, o]) => o >= 0).map(([partition, offset]) => ({ topic, partition, offset }));
    if (tps.length === 0) return;
    try {
      if (sync) consumer.commitSync(tps);
      else consumer.commit(tps);
    } catch (err) {
      // Best effort: the topic is deleted after a complete drain anyway.
      if (!isUnknownTopic(err)) this.log.warn({ err, topic }, 'drain commit failed');
    }
  }

  // -------------------------------------------------------------------------
  // close

  /**
   * Graceful leave: stop consuming this node's topic (committing what was
   * handled), hand everything still in it to `handler` in order (drainNode,
   * which re-checks the high watermark and then deletes the topic) while the
   * producer is still open, so re-routed envelopes can reach other nodes;
   * then close. Returns the number of envelopes handed over.
   */
  async leave(handler: EnvelopeHandler): Promise<number> {
    if (this.state !== 'started' || this.leaving || !this.nodeId) {
      await this.close();
      return 0;
    }
    this.leaving = true;
    const nodeId = this.nodeId;
    let handed = 0;
    try {
      await this.stopConsumer(true);
      handed = await this.drainNode(nodeId, handler);
    } finally {
      await this.close({ deleteOwnTopic: false });
    }
    return handed;
  }

  /** Received envelopes waiting for the handler, whether fetching is paused, and how often it paused. */
  receiveStats(): { buffered: number; paused: boolean; pauses: number } {
    return { buffered: this.buffered, paused: this.paused, pauses: this.pauses };
  }

  /**
   * Consumer lag of this node's topic: envelopes in the topic not yet handled
   * (high watermark, refreshed every few seconds, minus the next offset to handle).
   */
  lag(): number {
    let n = 0;
    for (const ps of this.parts.values()) {
      if (!ps.commits) continue;
      const high = this.highWatermarks.get(`${ps.topic}/${ps.partition}`);
      const next = ps.done >= 0 ? ps.done : ps.committed;
      if (high !== undefined && next >= 0) n += Math.max(0, high - next);
    }
    return n;
  }

  private refreshWatermarks(): void {
    const consumer = this.consumer;
    if (!consumer || this.state !== 'started') return;
    for (const ps of this.parts.values()) {
      if (!ps.commits) continue;
      try {
        consumer.queryWatermarkOffsets(ps.topic, ps.partition, 2000, (err, wm) => {
          if (!err && wm) this.highWatermarks.set(`${ps.topic}/${ps.partition}`, wm.highOffset);
        });
      } catch {
        /* disconnected meanwhile: the next refresh tries again */
      }
    }
  }

  /** Stop the main consumer: no new envelopes, in-flight handlers finish (bounded), optional final commit. */
  private async stopConsumer(commit: boolean): Promise<void> {
    const nodeId = this.nodeId;
    if (this.lagTimer) clearInterval(this.lagTimer);
    this.lagTimer = null;
    if (this.paused === false && this.consumer) this.setPaused(true);
    // The loop sees the state change and returns after its current call (<= CONSUME_WAIT_MS).
    if (this.consumeLoop) await this.consumeLoop;
    this.consumeLoop = null;
    const inFlight = [...this.parts.values()].map((p) => p.loop).filter((l): l is Promise<void> => l !== null);
    if (inFlight.length > 0) {
      const r = await boundedWait(Promise.all(inFlight), this.options.closeTimeoutMs);
      if (r === 'timeout') this.log.warn({ nodeId }, 'bus handlers still running at stop; their envelopes stay uncommitted');
    }
    if (commit) await this.commit(true);
    else if (this.committing) await this.committing;
    this.acceptCommits = false;
    for (const ps of this.parts.values()) ps.queue.length = 0;
    this.buffered = 0;
    if (this.consumer) await this.disconnect(this.consumer, 'consumer');
    this.consumer = null;
  }

  close(opts: { deleteOwnTopic?: boolean } = {}): Promise<void> {
    if (this.closing) return this.closing;
    const starting = this.state === 'starting' ? this.starting : null;
    this.closing = (async () => {
      // A start() in progress is bounded by startTimeoutMs: let it settle first.
      if (starting) await starting.catch(() => undefined);
      if (this.state === 'closed') return; // start() failed and cleaned up already
      const wasStarted = this.state === 'started';
      this.state = 'closing';
      await this.shutdown({ deleteOwnTopic: wasStarted && opts.deleteOwnTopic === true, commit: wasStarted });
    })();
    return this.closing;
  }

  private async shutdown(opts: { deleteOwnTopic: boolean; commit: boolean }): Promise<void> {
    const nodeId = this.nodeId;
    // 1. Consumer: stop taking envelopes, let the handlers in flight finish (bounded),
    //    final commit (pointless if the topic is deleted next), disconnect.
    //    Drains in progress see the closing state and stop at the next envelope.
    await this.stopConsumer(opts.commit && !opts.deleteOwnTopic);
    if (this.drains.size > 0) {
      const r = await boundedWait(
        Promise.all([...this.drains].map((d) => d.catch(() => undefined))),
        this.options.closeTimeoutMs,
      );
      if (r === 'timeout') this.log.warn({ nodeId }, 'a drain was still running at close');
    }
    // 2. Producer (flushed), then own topic, then admin.
    // What was sent this turn still goes out; from here on no producer is created
    // any more and sends fail with CLUSTER_ERR_CLOSED.
    await this.flushBatches();
    this.producerClosed = true;
    if (this.producer) {
      const producer = await this.producer.catch(() => null);
      if (producer) {
        await new Promise<void>((resolve) =>
          producer.flush(this.options.closeTimeoutMs, (err) => {
            if (err) this.log.warn({ err, nodeId }, 'kafka producer flush incomplete at close');
            resolve();
          }),
        );
        producer.poll();
        await this.disconnect(producer, 'producer');
      }
    }
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    for (const d of this.deliveries.values()) d.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus closed before delivery'));
    this.deliveries.clear();
    if (opts.deleteOwnTopic && nodeId) await this.deleteTopic(this.nodeTopic(nodeId));
    if (this.admin) {
      try {
        this.admin.disconnect();
      } catch {
        /* already gone */
      }
      this.admin = null;
    }
    this.state = 'closed';
    this.log.debug({ nodeId }, 'kafka bus closed');
  }

  // -------------------------------------------------------------------------
  // helpers

  private ensureAdmin(): IAdminClient {
    this.admin ??= this.newAdmin();
    return this.admin;
  }

  private newAdmin(): IAdminClient {
    return Kafka.AdminClient.create({
      'metadata.broker.list': this.options.brokers,
      'client.id': `${this.options.clientId}-${this.nodeId ?? 'client'}-admin`,
      'socket.nagle.disable': true,
      'log.connection.close': false,
    });
  }

  private createTopic(topic: string, partitions: number): Promise<void> {
    const admin = this.ensureAdmin();
    return new Promise((resolve, reject) => {
      admin.createTopic(
        {
          topic,
          num_partitions: partitions,
          replication_factor: this.options.replicationFactor,
          config: { 'max.message.bytes': String(this.options.maxMessageBytes + FRAMING_BYTES), ...this.topicConfig },
        },
        this.options.startTimeoutMs,
        (err) => {
          if (!err || errCode(err) === ERR.ERR_TOPIC_ALREADY_EXISTS) resolve();
          else reject(new ClusterError(ClusterErrorCode.BUS_START, `create topic ${topic} failed: ${err.message}`, { cause: err }));
        },
      );
    });
  }

  private async deleteTopic(topic: string): Promise<void> {
    // A drain that outlived close() must not leave a new admin client running.
    const temporary = this.state === 'closed';
    const admin = temporary ? this.newAdmin() : this.ensureAdmin();
    try {
      await new Promise<void>((resolve) => {
        admin.deleteTopic(topic, 10_000, (err) => {
          if (err && !isUnknownTopic(err)) this.log.warn({ err, topic }, 'delete topic failed');
          resolve();
        });
      });
    } finally {
      if (temporary) admin.disconnect();
    }
  }

  private connectConsumer(conf: ConsumerGlobalConfig, topic: string, deadline: number): Promise<KafkaConsumer> {
    const consumer = new Kafka.KafkaConsumer(conf, { 'auto.offset.reset': 'earliest' });
    return new Promise((resolve, reject) => {
      consumer.connect({ topic, timeout: Math.max(1000, deadline - Date.now()) }, (err) => {
        if (err) reject(new ClusterError(ClusterErrorCode.BUS_START, `consumer connect failed: ${err.message}`, { cause: err }));
        else resolve(consumer);
      });
    });
  }

  private async disconnect(client: KafkaConsumer | Producer, what: string): Promise<void> {
    if (!client.isConnected()) return;
    const r = await boundedWait(
      new Promise<void>((resolve) => client.disconnect(() => resolve())),
      Math.max(this.options.closeTimeoutMs, 5000),
    );
    if (r === 'timeout') this.log.warn({ nodeId: this.nodeId }, `kafka ${what} disconnect timed out`);
  }

  /**
   * Partition ids of `topic` once each has a leader (retrying until `deadline`).
   * With `allowMissing`, a topic the broker does not know yields [] at once.
   */
  private async partitionsOf(consumer: KafkaConsumer, topic: string, deadline: number, allowMissing: boolean): Promise<number[]> {
    let lastErr: unknown = null;
    for (;;) {
      try {
        const md = await new Promise<Metadata>((resolve, reject) =>
          consumer.getMetadata({ topic, timeout: Math.max(500, Math.min(5000, deadline - Date.now())) }, (err, data) =>
            err ? reject(err) : resolve(data),
          ),
        );
        // node-rdkafka may return other topics' metadata for an unknown topic: match by name.
        const t = md.topics.find((x) => x.name === topic);
        if (!t || t.partitions.length === 0) {
          if (allowMissing) return [];
          lastErr = new Error(`topic ${topic} not in metadata yet`);
        } else if (t.partitions.every((p) => p.leader >= 0)) {
          return t.partitions.map((p) => p.id).sort((a, b) => a - b);
        } else {
          lastErr = new Error(`topic ${topic} has partitions without a leader`);
        }
      } catch (err) {
        if (allowMissing && isUnknownTopic(err)) return [];
        lastErr = err;
      }
      if (Date.now() > deadline) {
        throw new ClusterError(ClusterErrorCode.BUS_START, `metadata for ${topic} unavailable: ${(lastErr as Error)?.message}`, {
          cause: lastErr,
        });
      }
      await delay(50);
    }
  }

  /** partition -> committed offset, for partitions that have one. */
  private async committedOffsets(
    consumer: KafkaConsumer,
    topic: string,
    parts: number[],
    deadline: number,
  ): Promise<Map<number, number>> {
    for (;;) {
      try {
        const tps = await new Promise<TopicPartitionOffset[]>((resolve, reject) =>
          consumer.committed(
            parts.map((partition) => ({ topic, partition })),
            Math.max(500, Math.min(5000, deadline - Date.now())),
            (err, r) => (err ? reject(err) : resolve(r)),
          ),
        );
        const out = new Map<number, number>();
        for (const tp of tps) if (typeof tp.offset === 'number' && tp.offset >= 0) out.set(tp.partition, tp.offset);
        return out;
      } catch (err) {
        if (Date.now() > deadline) {
          throw new ClusterError(ClusterErrorCode.BUS_START, `committed offsets of ${topic}: ${(err as Error).message}`, {
            cause: err,
          });
        }
        await delay(50);
      }
    }
  }

  private async watermarks(
    consumer: KafkaConsumer,
    topic: string,
    partition: number,
    deadline: number,
    allowMissing = false,
  ): Promise<WatermarkOffsets | null> {
    for (;;) {
      try {
        return await new Promise<WatermarkOffsets>((resolve, reject) =>
          consumer.queryWatermarkOffsets(topic, partition, Math.max(500, Math.min(5000, deadline - Date.now())), (err, wm) =>
            err ? reject(err) : resolve(wm),
          ),
        );
      } catch (err) {
        if (allowMissing && isUnknownTopic(err)) return null;
        if (Date.now() > deadline) {
          throw new ClusterError(ClusterErrorCode.BUS_START, `watermarks of ${topic}/${partition}: ${(err as Error).message}`, {
            cause: err,
          });
        }
        await delay(50);
      }
    }
  }
}

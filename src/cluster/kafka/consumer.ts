/**
 * Receiving: the node's own consumer. It reads its own topic and the broadcast
 * topic by explicit assignment, runs the handler for each partition's
 * envelopes one at a time, pauses fetching while too many wait for it
 * (maxBuffered), commits own-topic offsets (coalesced, behind the
 * hooks.settled() barrier) and reports its lag.
 */
import type { KafkaConsumer, LibrdKafkaError, Message, TopicPartition, TopicPartitionOffset } from 'node-rdkafka';
import type { EnvelopeHandler } from '../types.js';
import { envelopeCount } from '../envelope.js';
import { broadcastTopic, committedOffsets, nodeTopic, partitionsOf, watermarks } from './admin.js';
import { CONSUME_WAIT_MS, connectConsumer, consumeBatch, consumerConfig, handleMessage, settled } from './reader.js';
import { type BusContext, boundedWait, delay, disconnect, ERR, errCode } from './shared.js';

/** librdkafka logical offset: the partition's first offset. */
const OFFSET_BEGINNING = -2;
/** How often the own topic's high watermark is read for lag(). */
const LAG_REFRESH_MS = 5000;
/** Messages taken at most per batch (the first one, then what is already fetched). */
const CONSUME_BATCH = 500;

/** One assigned partition of the running consumer. */
export interface PartitionState {
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

const partKey = (topic: string, partition: number): string => `${topic}/${partition}`;

/** Own partitions whose handled offset moved past their committed one, with that offset. */
export function offsetsToCommit(parts: Iterable<PartitionState>): TopicPartitionOffset[] {
  const tps: TopicPartitionOffset[] = [];
  for (const ps of parts) {
    if (ps.commits && ps.done > ps.committed) tps.push({ topic: ps.topic, partition: ps.partition, offset: ps.done });
  }
  return tps;
}

/** A commit of `tps` was made (or is on its way). */
export function markCommitted(parts: Map<string, PartitionState>, tps: readonly TopicPartitionOffset[]): void {
  for (const tp of tps) {
    const ps = parts.get(partKey(tp.topic, tp.partition))!;
    ps.committed = Math.max(ps.committed, tp.offset);
  }
}

/** A commit of `tps` failed: let the next commit (or the final one at stop) carry these offsets again. */
export function markUncommitted(parts: Map<string, PartitionState>, tps: readonly TopicPartitionOffset[]): void {
  for (const tp of tps) {
    const ps = parts.get(partKey(tp.topic, tp.partition));
    if (ps && ps.committed >= tp.offset) ps.committed = -1;
  }
}

/** Envelopes in the own topic not yet handled: high watermark minus the next offset to handle. */
export function lagOf(parts: Iterable<PartitionState>, highWatermarks: ReadonlyMap<string, number>): number {
  let n = 0;
  for (const ps of parts) {
    if (!ps.commits) continue;
    const high = highWatermarks.get(partKey(ps.topic, ps.partition));
    const next = ps.done >= 0 ? ps.done : ps.committed;
    if (high !== undefined && next >= 0) n += Math.max(0, high - next);
  }
  return n;
}

/**
 * Received envelopes waiting for the handler: fetching pauses once there are
 * `max` and resumes once they are down to half of it. `apply` pauses or resumes
 * the consumer and says whether that took effect.
 */
export class ReceiveBuffer {
  buffered = 0;
  paused = false;
  /** How often fetching was paused. */
  pauses = 0;

  constructor(
    private readonly max: number,
    private readonly apply: (paused: boolean) => boolean,
  ) {}

  added(envelopes: number): void {
    this.buffered += envelopes;
    if (!this.paused && this.buffered >= this.max) this.setPaused(true);
  }

  taken(envelopes: number): void {
    this.buffered -= envelopes;
    if (this.paused && this.buffered <= this.max / 2) this.setPaused(false);
  }

  setPaused(paused: boolean): void {
    if (!this.apply(paused)) return;
    if (paused) this.pauses++;
    this.paused = paused;
  }
}

/**
 * When commits run. One at a time: a call meanwhile makes it run once more when
 * it ends (with the offsets handled by then) and resolves after that run, so
 * commits never queue up behind slow sockets and never land out of order.
 * Scheduled ones at most once per `intervalMs`.
 */
export class CommitCoalescer {
  /** The commit running (it may be waiting for hooks.settled()), and whether to run once more after it. */
  private committing: Promise<void> | null = null;
  private again = false;
  private sync = false;
  private scheduled = false;
  private lastAt = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly commitOnce: (sync: boolean) => Promise<void>,
  ) {}

  /** The commit running, if any. */
  get running(): Promise<void> | null {
    return this.committing;
  }

  /** A commit soon: in the next turn, or once `intervalMs` passed since the last scheduled one. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => {
      this.scheduled = false;
      this.lastAt = Date.now();
      void this.commit(false);
    };
    const wait = this.lastAt + this.intervalMs - Date.now();
    if (wait <= 0) setImmediate(run);
    else setTimeout(run, wait).unref();
  }

  /** A commit now (or right after the running one); `sync` holds for the run that takes it. */
  commit(sync: boolean): Promise<void> {
    this.sync ||= sync;
    if (this.committing) {
      this.again = true;
      return this.committing;
    }
    const loop = async (): Promise<void> => {
      do {
        this.again = false;
        const s = this.sync;
        this.sync = false;
        await this.commitOnce(s);
      } while (this.again);
    };
    const p = loop().finally(() => {
      this.committing = null;
    });
    this.committing = p;
    return p;
  }
}

export class BusConsumer {
  private client: KafkaConsumer | null = null;
  private handler: EnvelopeHandler | null = null;
  private readonly parts = new Map<string, PartitionState>();
  private readonly buffer: ReceiveBuffer;
  readonly commits: CommitCoalescer;
  /** Commits are accepted until stop() made its final commit. */
  private acceptCommits = false;
  /** The consume(n) loop while it runs. */
  private consumeLoop: Promise<void> | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  /** Own-topic partition key -> last high watermark read. */
  private readonly highWatermarks = new Map<string, number>();
  private readonly stopping = (): boolean => this.ctx.state !== 'started' || this.ctx.leaving;

  constructor(private readonly ctx: Readonly<BusContext>) {
    this.buffer = new ReceiveBuffer(ctx.options.maxBuffered, (paused) => this.pauseFetching(paused));
    this.commits = new CommitCoalescer(ctx.options.commitIntervalMs, (sync) => this.commitOnce(sync));
  }

  /** Connect the consumer of this node's topic, in the group named after it (it stays set for stop() even if start() fails later). */
  async connect(deadline: number): Promise<void> {
    const nodeId = this.ctx.nodeId!;
    const own = nodeTopic(this.ctx.options.prefix, nodeId);
    const conf = consumerConfig(this.ctx, own, `${this.ctx.options.clientId}-${nodeId}`, { offset_commit_cb: true });
    this.client = await connectConsumer(conf, own, deadline);
  }

  /**
   * Assign the own topic from the group's committed offsets (earliest if none)
   * and the broadcast topic from its current end. Returns the assignment.
   */
  async assign(handler: EnvelopeHandler, deadline: number): Promise<TopicPartitionOffset[]> {
    const { options, log, nodeId } = this.ctx;
    const consumer = this.client!;
    this.handler = handler;
    const own = nodeTopic(options.prefix, nodeId!);
    const bc = broadcastTopic(options.prefix);
    consumer.on('offset.commit', (err: LibrdKafkaError, tps: TopicPartitionOffset[]) => this.onCommitted(err, tps));
    consumer.on('event.error', (err: LibrdKafkaError) => log.warn({ err, nodeId }, 'kafka consumer error'));

    const [ownParts, bcParts] = await Promise.all([
      partitionsOf(consumer, own, deadline, false),
      partitionsOf(consumer, bc, deadline, false),
    ]);
    const committed = await committedOffsets(consumer, own, ownParts, deadline);
    const bcEnds = await Promise.all(bcParts.map((p) => watermarks(consumer, bc, p, deadline)));

    const assignment: TopicPartitionOffset[] = [
      ...ownParts.map((p) => ({ topic: own, partition: p, offset: committed.get(p) ?? OFFSET_BEGINNING })),
      ...bcParts.map((p, i) => ({ topic: bc, partition: p, offset: bcEnds[i]!.highOffset })),
    ];
    for (const a of assignment) {
      const commits = a.topic === own;
      const c = commits && a.offset >= 0 ? a.offset : -1;
      this.parts.set(partKey(a.topic, a.partition), {
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
    return assignment;
  }

  /** Start taking envelopes (the bus is started) and refreshing the lag. */
  run(): void {
    this.consumeLoop = this.runConsumeLoop(this.client!);
    this.lagTimer = setInterval(() => this.refreshWatermarks(), LAG_REFRESH_MS);
    this.lagTimer.unref?.();
  }

  /** No new envelopes, in-flight handlers finish (bounded), optional final commit, disconnect. */
  async stop(commit: boolean): Promise<void> {
    const { options, log, nodeId } = this.ctx;
    if (this.lagTimer) clearInterval(this.lagTimer);
    this.lagTimer = null;
    if (this.buffer.paused === false && this.client) this.buffer.setPaused(true);
    // The loop sees the state change and returns after its current call (<= CONSUME_WAIT_MS).
    if (this.consumeLoop) await this.consumeLoop;
    this.consumeLoop = null;
    const inFlight = [...this.parts.values()].map((p) => p.loop).filter((l): l is Promise<void> => l !== null);
    if (inFlight.length > 0) {
      const r = await boundedWait(Promise.all(inFlight), options.closeTimeoutMs);
      if (r === 'timeout') log.warn({ nodeId }, 'bus handlers still running at stop; their envelopes stay uncommitted');
    }
    if (commit) await this.commits.commit(true);
    else if (this.commits.running) await this.commits.running;
    this.acceptCommits = false;
    for (const ps of this.parts.values()) ps.queue.length = 0;
    this.buffer.buffered = 0;
    if (this.client) await disconnect(this.ctx, this.client, 'consumer');
    this.client = null;
  }

  /** Received envelopes waiting for the handler, whether fetching is paused, and how often it paused. */
  receiveStats(): { buffered: number; paused: boolean; pauses: number } {
    return { buffered: this.buffer.buffered, paused: this.buffer.paused, pauses: this.buffer.pauses };
  }

  /** Own-topic envelopes not yet handled (high watermark refreshed every LAG_REFRESH_MS). */
  lag(): number {
    return lagOf(this.parts.values(), this.highWatermarks);
  }

  /**
   * Pull batches with consume(n) rather than node-rdkafka's flowing mode: the
   * flowing-mode thread leaks messages it handed over but JS had not yet seen
   * when the consumer disconnects, and then the disconnect hangs (or crashes)
   * under traffic. Here nothing is in flight once the loop has returned, so
   * stop() waits for it before disconnecting.
   *
   * Latency: a consume(n) call returns once it has n messages or waited its
   * timeout for the next one. So wait (blocking, up to CONSUME_WAIT_MS) for ONE
   * message — handed over the moment it arrives — then take whatever else is
   * already fetched without waiting (timeout 0).
   */
  private async runConsumeLoop(consumer: KafkaConsumer): Promise<void> {
    while (!this.stopping()) {
      let batch: Message[];
      try {
        consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);
        batch = await consumeBatch(consumer, 1);
        if (batch.length > 0 && !this.stopping()) {
          consumer.setDefaultConsumeTimeout(0);
          batch = batch.concat(await consumeBatch(consumer, CONSUME_BATCH - 1));
        }
      } catch (err) {
        if (this.stopping()) break;
        this.ctx.log.warn({ err, nodeId: this.ctx.nodeId }, 'kafka consume failed; retrying');
        await delay(100);
        continue;
      }
      for (const msg of batch) this.onMessage(msg);
    }
  }

  private onMessage(msg: Message): void {
    const ps = this.parts.get(partKey(msg.topic, msg.partition));
    // Not started (closing) or not ours: leave it uncommitted for whoever comes next.
    if (!ps || this.stopping()) return;
    ps.queue.push(msg);
    this.buffer.added(envelopeCount(msg.value));
    if (!ps.loop) ps.loop = this.runPartition(ps);
  }

  private async runPartition(ps: PartitionState): Promise<void> {
    try {
      while (ps.queue.length > 0 && !this.stopping()) {
        const msg = ps.queue.shift()!;
        this.buffer.taken(envelopeCount(msg.value));
        if ((await handleMessage(this.ctx, msg, this.handler!, this.stopping)) < 0) break;
        ps.done = msg.offset + 1;
        if (ps.commits) this.commits.schedule();
      }
    } finally {
      ps.loop = null;
    }
  }

  private pauseFetching(paused: boolean): boolean {
    const consumer = this.client;
    if (!consumer || !consumer.isConnected()) return false;
    const tps: TopicPartition[] = [...this.parts.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
    try {
      if (paused) consumer.pause(tps);
      else consumer.resume(tps);
      return true;
    } catch (err) {
      this.ctx.log.warn({ err }, paused ? 'kafka pause failed' : 'kafka resume failed');
      return false;
    }
  }

  /**
   * Commit every own partition whose handled offset moved past its committed one,
   * once hooks.settled() says the writes for those envelopes left the process.
   */
  private async commitOnce(sync: boolean): Promise<void> {
    const tps = offsetsToCommit(this.parts.values());
    if (tps.length === 0 || !this.acceptCommits) return;
    if ((await settled(this.ctx)) === 'timeout') this.ctx.log.warn({ nodeId: this.ctx.nodeId }, 'writes not settled in time; committing anyway');
    const consumer = this.client;
    if (!this.acceptCommits || !consumer || !consumer.isConnected()) return;
    try {
      if (sync) consumer.commitSync(tps);
      else consumer.commit(tps);
      markCommitted(this.parts, tps);
    } catch (err) {
      this.ctx.log.warn({ err, offsets: tps }, 'kafka commit failed');
    }
  }

  private onCommitted(err: LibrdKafkaError | null, tps: TopicPartitionOffset[]): void {
    if (!err || errCode(err) === ERR.ERR__NO_OFFSET) return;
    this.ctx.log.warn({ err, offsets: tps }, 'kafka commit failed; will retry with the next one');
    markUncommitted(this.parts, tps ?? []);
  }

  private refreshWatermarks(): void {
    const consumer = this.client;
    if (!consumer || this.ctx.state !== 'started') return;
    for (const ps of this.parts.values()) {
      if (!ps.commits) continue;
      try {
        consumer.queryWatermarkOffsets(ps.topic, ps.partition, 2000, (err, wm) => {
          if (!err && wm) this.highWatermarks.set(partKey(ps.topic, ps.partition), wm.highOffset);
        });
      } catch {
        /* disconnected meanwhile: the next refresh tries again */
      }
    }
  }
}

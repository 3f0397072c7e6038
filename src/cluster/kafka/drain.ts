/**
 * Draining a dead node's topic (drainNode, and leave() on its own topic): a
 * short-lived consumer in the node's group reads the topic from its committed
 * offset to the high watermark (re-checked until it stops growing), hands each
 * envelope to the handler in order, commits, then deletes the topic.
 */
import type { Assignment, KafkaConsumer, TopicPartitionOffset, WatermarkOffsets } from 'node-rdkafka';
import type { EnvelopeHandler } from '../types.js';
import { ClusterError, ClusterErrorCode, isClusterError } from '../errors.js';
import { committedOffsets, nodeTopic, partitionsOf, type TopicAdmin, watermarks } from './admin.js';
import { CONSUME_WAIT_MS, connectConsumer, consumeBatch, consumerConfig, handleMessage, settled } from './reader.js';
import { type BusContext, boundedWait, disconnect, isUnknownTopic } from './shared.js';

/** Messages taken at most per batch. */
const DRAIN_BATCH = 500;

/** Where a drain of one topic stands, partition by partition. */
export class DrainProgress {
  /** partition -> next offset to hand over. */
  readonly position = new Map<number, number>();
  /** partition -> offset the drain reads up to (the high watermark last seen). */
  readonly end = new Map<number, number>();
  /** End-of-partition offsets seen since the last applyEofs(). */
  private readonly eofs = new Map<number, number>();

  constructor(readonly topic: string) {}

  /**
   * Read `partition` from `committed` up to the high watermark; from the first
   * offset still there if nothing was committed or retention removed it.
   * Returns the offset to start at.
   */
  begin(partition: number, committed: number | undefined, wm: WatermarkOffsets): number {
    const start = Math.max(committed ?? wm.lowOffset, wm.lowOffset);
    this.position.set(partition, start);
    this.end.set(partition, wm.highOffset);
    return start;
  }

  /** Whether some partition is not read up to its end yet. */
  behind(): boolean {
    for (const [p, end] of this.end) if (this.position.get(p)! < end) return true;
    return false;
  }

  /** Whether a message read is one to hand over (of this topic, not before the position). */
  wants(msg: { topic: string; partition: number; offset: number }): boolean {
    return msg.topic === this.topic && msg.offset >= this.position.get(msg.partition)!;
  }

  handled(partition: number, offset: number): void {
    this.position.set(partition, offset + 1);
  }

  eof(eof: TopicPartitionOffset): void {
    if (eof.topic === this.topic) this.eofs.set(eof.partition, Math.max(this.eofs.get(eof.partition) ?? 0, eof.offset));
  }

  /** After a batch's messages were handled: an EOF offset past the last message means a gap (e.g. transaction markers). */
  applyEofs(): void {
    for (const [p, off] of this.eofs) this.position.set(p, Math.max(this.position.get(p) ?? 0, off));
    this.eofs.clear();
  }

  /** A new high watermark of `partition`; true if the end moved. */
  extend(partition: number, highOffset: number): boolean {
    if (highOffset <= this.end.get(partition)!) return false;
    this.end.set(partition, highOffset);
    return true;
  }

  /** The positions as offsets to commit. */
  offsets(): TopicPartitionOffset[] {
    return [...this.position].filter(([, o]) => o >= 0).map(([partition, offset]) => ({ topic: this.topic, partition, offset }));
  }
}

export class NodeDrainer {
  private readonly drains = new Set<Promise<unknown>>();
  private readonly closing = (): boolean => this.ctx.state === 'closing' || this.ctx.state === 'closed';

  constructor(
    private readonly ctx: Readonly<BusContext>,
    private readonly admin: TopicAdmin,
  ) {}

  drainNode(nodeId: string, handler: EnvelopeHandler): Promise<number> {
    if (this.closing()) {
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

  /** At close: let the drains in progress (which see the closing state and stop at the next envelope) end, bounded. */
  async settle(): Promise<void> {
    if (this.drains.size === 0) return;
    const r = await boundedWait(
      Promise.all([...this.drains].map((d) => d.catch(() => undefined))),
      this.ctx.options.closeTimeoutMs,
    );
    if (r === 'timeout') this.ctx.log.warn({ nodeId: this.ctx.nodeId }, 'a drain was still running at close');
  }

  private async drain(nodeId: string, handler: EnvelopeHandler): Promise<number> {
    const { options, log } = this.ctx;
    // The group is named after the topic: the drain resumes where the dead node committed.
    const topic = nodeTopic(options.prefix, nodeId);
    const deadline = Date.now() + options.drainTimeoutMs;
    const consumer = await connectConsumer(
      consumerConfig(this.ctx, topic, `${options.clientId}-${this.ctx.nodeId ?? 'client'}-drain`, {
        'enable.partition.eof': true,
      }),
      topic,
      deadline,
    );
    const progress = new DrainProgress(topic);
    let count = 0;
    let finished = false;
    try {
      const parts = await partitionsOf(consumer, topic, deadline, true);
      if (parts.length === 0) {
        log.debug({ nodeId, topic }, 'no topic to drain');
        finished = true;
        return 0;
      }
      const committed = await committedOffsets(consumer, topic, parts, deadline);
      const assignment: Assignment[] = [];
      for (const p of parts) {
        const wm = await watermarks(consumer, topic, p, deadline, true);
        if (!wm) {
          finished = true;
          return 0; // deleted meanwhile
        }
        assignment.push({ topic, partition: p, offset: progress.begin(p, committed.get(p), wm) });
      }
      log.debug({ nodeId, topic, assignment, end: Object.fromEntries(progress.end) }, 'draining dead node topic');
      // End-of-partition events arrive before the batch they close is handed back:
      // collect them, and apply them after the batch's messages were handled.
      consumer.on('partition.eof', (eof: TopicPartitionOffset) => progress.eof(eof));
      consumer.assign(assignment);
      consumer.setDefaultConsumeTimeout(CONSUME_WAIT_MS);

      for (;;) {
        while (progress.behind()) {
          if (this.closing()) {
            throw new ClusterError(ClusterErrorCode.BUS_DRAIN, `drain of ${topic} aborted: bus closing`);
          }
          if (Date.now() > deadline) {
            throw new ClusterError(
              ClusterErrorCode.BUS_DRAIN,
              `drain of ${topic} timed out after ${options.drainTimeoutMs} ms (${count} handed over)`,
            );
          }
          const batch = await consumeBatch(consumer, DRAIN_BATCH);
          for (const msg of batch) {
            if (!progress.wants(msg)) continue;
            const handled = await handleMessage(this.ctx, msg, handler, this.closing);
            if (handled < 0) throw new ClusterError(ClusterErrorCode.BUS_DRAIN, `drain of ${topic} aborted: bus closing`);
            count += handled;
            progress.handled(msg.partition, msg.offset);
          }
          progress.applyEofs();
          if (batch.length > 0) {
            await settled(this.ctx);
            this.commit(consumer, progress, false);
          }
        }
        // Senders that did not yet know the node is dead may still have added a few:
        // read again until the end stops moving, then delete.
        let grew = false;
        for (const p of parts) {
          const wm = await watermarks(consumer, topic, p, deadline, true);
          if (wm && progress.extend(p, wm.highOffset)) grew = true;
        }
        if (!grew) break;
      }
      finished = true;
      return count;
    } finally {
      if (progress.position.size > 0) {
        await settled(this.ctx);
        this.commit(consumer, progress, true);
      }
      await disconnect(this.ctx, consumer, 'drain consumer');
      if (finished) await this.admin.delete(topic);
      log.info({ nodeId, topic, count, finished }, finished ? 'drained dead node topic' : 'drain of dead node topic stopped');
    }
  }

  private commit(consumer: KafkaConsumer, progress: DrainProgress, sync: boolean): void {
    if (!consumer.isConnected()) return;
    const tps = progress.offsets();
    if (tps.length === 0) return;
    try {
      if (sync) consumer.commitSync(tps);
      else consumer.commit(tps);
    } catch (err) {
      // Best effort: the topic is deleted after a complete drain anyway.
      if (!isUnknownTopic(err)) this.ctx.log.warn({ err, topic: progress.topic }, 'drain commit failed');
    }
  }
}

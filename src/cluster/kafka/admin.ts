/**
 * Topic admin: the names of the bus's topics (and of a node's consumer group),
 * creating and deleting topics, and what the broker knows of a topic: its
 * partitions, the committed offsets of a group, its watermarks.
 */
import Kafka from 'node-rdkafka';
import type { IAdminClient, KafkaConsumer, Metadata, TopicPartitionOffset, WatermarkOffsets } from 'node-rdkafka';
import { ClusterError, ClusterErrorCode } from '../errors.js';
import { FRAMING_BYTES } from './options.js';
import { type BusContext, delay, ERR, errCode, isUnknownTopic } from './shared.js';

/**
 * Node `nodeId`'s topic. Also the id of the node's consumer group: the group is
 * named after the topic it commits offsets of (the node's own consumer, and
 * whoever drains the topic after it died, resume from that group's offsets).
 */
export function nodeTopic(prefix: string, nodeId: string): string {
  return `${prefix}.node.${nodeId}`;
}

/** The topic every node reads from its end. */
export function broadcastTopic(prefix: string): string {
  return `${prefix}.broadcast`;
}

/** Creates and deletes topics with one admin client, made on first use. */
export class TopicAdmin {
  private client: IAdminClient | null = null;

  constructor(private readonly ctx: Readonly<BusContext>) {}

  /** Create `topic` unless it exists (CLUSTER_ERR_BUS_START if that fails). */
  create(topic: string, partitions: number): Promise<void> {
    const { options, topicConfig } = this.ctx;
    const admin = this.ensureClient();
    return new Promise((resolve, reject) => {
      admin.createTopic(
        {
          topic,
          num_partitions: partitions,
          replication_factor: options.replicationFactor,
          config: { 'max.message.bytes': String(options.maxMessageBytes + FRAMING_BYTES), ...topicConfig },
        },
        options.startTimeoutMs,
        (err) => {
          if (!err || errCode(err) === ERR.ERR_TOPIC_ALREADY_EXISTS) resolve();
          else reject(new ClusterError(ClusterErrorCode.BUS_START, `create topic ${topic} failed: ${err.message}`, { cause: err }));
        },
      );
    });
  }

  /** Delete `topic`; a failure is logged, never thrown (a topic already gone is no failure). */
  async delete(topic: string): Promise<void> {
    // A drain that outlived close() must not leave a new admin client running.
    const temporary = this.ctx.state === 'closed';
    const admin = temporary ? this.newClient() : this.ensureClient();
    try {
      await new Promise<void>((resolve) => {
        admin.deleteTopic(topic, 10_000, (err) => {
          if (err && !isUnknownTopic(err)) this.ctx.log.warn({ err, topic }, 'delete topic failed');
          resolve();
        });
      });
    } finally {
      if (temporary) admin.disconnect();
    }
  }

  close(): void {
    if (!this.client) return;
    try {
      this.client.disconnect();
    } catch {
      /* already gone */
    }
    this.client = null;
  }

  private ensureClient(): IAdminClient {
    this.client ??= this.newClient();
    return this.client;
  }

  private newClient(): IAdminClient {
    return Kafka.AdminClient.create({
      'metadata.broker.list': this.ctx.options.brokers,
      'client.id': `${this.ctx.options.clientId}-${this.ctx.nodeId ?? 'client'}-admin`,
      'socket.nagle.disable': true,
      'log.connection.close': false,
    });
  }
}

// ---------------------------------------------------------------------------
// What the broker knows of a topic, asked through a connected consumer. Each
// retries until `deadline`, then fails with CLUSTER_ERR_BUS_START.

/**
 * Partition ids of `topic` once each has a leader (retrying until `deadline`).
 * With `allowMissing`, a topic the broker does not know yields [] at once.
 */
export async function partitionsOf(consumer: KafkaConsumer, topic: string, deadline: number, allowMissing: boolean): Promise<number[]> {
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

/** partition -> committed offset (of the consumer's group), for partitions that have one. */
export async function committedOffsets(
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

/** Low and high watermark of one partition. With `allowMissing`, null for a topic the broker does not know. */
export async function watermarks(
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

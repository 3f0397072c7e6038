/**
 * Sending: one idempotent producer. Envelopes sent in one event-loop turn to
 * the same topic (and key, on a partitioned topic) are gathered into an
 * OutBatch and leave as one Kafka message at the end of the turn; batches
 * reach librdkafka strictly in order (one FIFO pump), and each send settles on
 * the delivery report of the message that carried it.
 */
import Kafka from 'node-rdkafka';
import type { LibrdKafkaError, Producer, ProducerGlobalConfig } from 'node-rdkafka';
import type { Envelope } from '../types.js';
import { batchOverhead, encodeEnvelope, encodeEnvelopeBatch } from '../envelope.js';
import { ClusterError, ClusterErrorCode } from '../errors.js';
import { broadcastTopic } from './admin.js';
import { FRAMING_BYTES } from './options.js';
import { type BusContext, delay, disconnect, ERR, errCode } from './shared.js';

/** How often the producer is polled for delivery reports while some are outstanding. */
const DELIVERY_POLL_MS = 1;
/** ... and otherwise (error/log events only). */
const IDLE_POLL_MS = 200;
/** Envelopes at most in one produced batch. */
export const SEND_BATCH_MAX = 1000;
/** Bytes at most in one produced batch (and never more than maxMessageBytes). */
export const SEND_BATCH_BYTES = 1024 * 1024;

export interface PendingDelivery {
  resolve(): void;
  reject(err: Error): void;
}

/** Envelopes for one topic (and key, on a partitioned topic) waiting for the end of the turn. */
export interface OutBatch {
  topic: string;
  key: string | null;
  values: Buffer[];
  bytes: number;
  waiters: PendingDelivery[];
}

/**
 * The key an envelope travels under on a topic of `partitions` partitions. One
 * partition (as configured here): none, so everything for the topic may share a
 * message, sent to partition 0 explicitly, so the order holds even if the topic
 * was created with more. More: the user (or, for topic/event envelopes, the
 * destination); a batch then holds only one key's envelopes (the partitioner
 * keeps a key in one partition, so its order holds).
 */
export function batchKey(env: Envelope, partitions: number): string | null {
  return partitions > 1 ? (env.user ?? env.destination) : null;
}

/** Gathers encoded envelopes into OutBatches by topic and key, and queues closed ones in order. */
export class OutBatches {
  /** Batches closed and waiting to be handed to librdkafka, in order. */
  readonly closed: OutBatch[] = [];
  /** Envelopes sent this turn, by topic (and key on partitioned topics). */
  private readonly open = new Map<string, OutBatch>();

  /**
   * @param maxBytes bytes at most in one batch (batch framing included)
   * @param onFull called when add() closed a batch because it was full
   */
  constructor(
    private readonly maxBytes: number,
    private readonly onFull: () => void,
  ) {}

  /**
   * Add `value` to the open batch of `topic` and `key`, which holds `maxCount`
   * envelopes at most. The promise settles with the delivery of the batch.
   */
  add(topic: string, key: string | null, value: Buffer, maxCount: number): Promise<void> {
    const id = key === null ? topic : `${topic}\u0000${key}`;
    let batch = this.open.get(id);
    if (batch && (batch.values.length >= maxCount || batch.bytes + value.length + batchOverhead(batch.values.length + 1) > this.maxBytes)) {
      // Full: it goes now, ahead of anything gathered after it.
      this.open.delete(id);
      this.closed.push(batch);
      this.onFull();
      batch = undefined;
    }
    if (!batch) {
      batch = { topic, key, values: [], bytes: 0, waiters: [] };
      this.open.set(id, batch);
    }
    batch.values.push(value);
    batch.bytes += value.length;
    return new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }

  /** End of the turn: every open batch is closed, in the order they were opened. */
  closeAll(): void {
    for (const b of this.open.values()) this.closed.push(b);
    this.open.clear();
  }
}

export class BusProducer {
  private client: Promise<Producer> | null = null;
  /** Set by close(): no producer is created any more and sends fail with CLUSTER_ERR_CLOSED. */
  private closed = false;
  private readonly batches: OutBatches;
  private flushScheduled = false;
  private pumping: Promise<void> | null = null;
  private readonly deliveries = new Map<number, PendingDelivery>();
  private nextOpaque = 1;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollFast = false;

  constructor(private readonly ctx: Readonly<BusContext>) {
    this.batches = new OutBatches(Math.min(SEND_BATCH_BYTES, ctx.options.maxMessageBytes), () => void this.pump());
  }

  /** Connect the producer (start() does, so that sending does not wait for it). */
  async connect(): Promise<void> {
    await this.ensureClient();
  }

  /**
   * Queue an envelope for `topic` (node `target`'s, or null: broadcast); it leaves with the others
   * of this turn (see flushBatches), or alone while hooks.batching() says the reader cannot take batches.
   */
  send(topic: string, env: Envelope, target: string | null): Promise<void> {
    const { options, hooks } = this.ctx;
    if (this.ctx.state === 'closed' || this.closed) {
      return Promise.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed'));
    }
    const value = encodeEnvelope(env);
    const partitions = topic === broadcastTopic(options.prefix) ? options.broadcastPartitions : options.partitions;
    const max = hooks.batching?.(target) === false ? 1 : SEND_BATCH_MAX;
    const delivered = this.batches.add(topic, batchKey(env, partitions), value, max);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flushBatches());
    }
    return delivered;
  }

  /**
   * What was sent this turn still goes out, then the producer is flushed and
   * disconnected; deliveries still outstanding fail with CLUSTER_ERR_CLOSED.
   */
  async close(): Promise<void> {
    const { options, log, nodeId } = this.ctx;
    await this.flushBatches();
    this.closed = true;
    if (this.client) {
      const producer = await this.client.catch(() => null);
      if (producer) {
        await new Promise<void>((resolve) =>
          producer.flush(options.closeTimeoutMs, (err) => {
            if (err) log.warn({ err, nodeId }, 'kafka producer flush incomplete at close');
            resolve();
          }),
        );
        producer.poll();
        await disconnect(this.ctx, producer, 'producer');
      }
    }
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    for (const d of this.deliveries.values()) d.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus closed before delivery'));
    this.deliveries.clear();
  }

  /** End of the turn: every batch gathered becomes one Kafka message. Resolves once all were handed to librdkafka. */
  private flushBatches(): Promise<void> {
    this.flushScheduled = false;
    this.batches.closeAll();
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
    const queue = this.batches.closed;
    while (queue.length > 0) {
      let producer: Producer;
      try {
        if (this.closed) throw new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed');
        producer = await this.ensureClient();
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
    const deadline = Date.now() + this.ctx.options.sendTimeoutMs;
    for (;;) {
      try {
        producer.produce(topic, batch.key === null ? 0 : null, value, batch.key, Date.now(), opaque);
        this.pollForDeliveries(true);
        return null;
      } catch (err) {
        // The local queue is full: let delivery reports drain it, then retry (bounded).
        if (errCode(err) === ERR.ERR__QUEUE_FULL && Date.now() < deadline && !this.closed) {
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
    const client = this.client;
    if (!client || this.closed) return;
    void client.then((p) => {
      if (this.pollFast !== fast || this.pollTimer || this.closed) return;
      const timer = setInterval(() => {
        try {
          p.poll();
        } catch {
          /* disconnected: close() clears the timer */
        }
      }, fast ? DELIVERY_POLL_MS : IDLE_POLL_MS);
      if (!fast) timer.unref();
      this.pollTimer = timer;
    });
  }

  private ensureClient(): Promise<Producer> {
    if (this.client) return this.client;
    if (this.closed) return Promise.reject(new ClusterError(ClusterErrorCode.CLOSED, 'KafkaBus is closed'));
    const { options, log } = this.ctx;
    const conf: ProducerGlobalConfig = {
      'metadata.broker.list': options.brokers,
      'client.id': `${options.clientId}-${this.ctx.nodeId ?? 'client'}-producer`,
      dr_cb: true,
      'enable.idempotence': true,
      'linger.ms': 1,
      'socket.nagle.disable': true,
      'topic.metadata.propagation.max.ms': options.unknownTopicTimeoutMs,
      'allow.auto.create.topics': false,
      'message.max.bytes': options.maxMessageBytes + FRAMING_BYTES,
      'log.connection.close': false,
      ...this.ctx.producerConfig,
    };
    const producer = new Kafka.Producer(conf, { 'message.timeout.ms': options.sendTimeoutMs });
    producer.on('delivery-report', (err: LibrdKafkaError, report) => this.onDelivery(err, report));
    producer.on('event.error', (err: LibrdKafkaError) => log.warn({ err }, 'kafka producer error'));
    this.client = new Promise<Producer>((resolve, reject) => {
      producer.connect({ topic: broadcastTopic(options.prefix), timeout: options.startTimeoutMs }, (err) => {
        if (err) reject(new ClusterError(ClusterErrorCode.BUS_START, `producer connect failed: ${err.message}`, { cause: err }));
        else resolve(producer);
      });
    });
    this.client.then(
      () => this.pollForDeliveries(this.deliveries.size > 0),
      () => undefined,
    );
    return this.client;
  }
}

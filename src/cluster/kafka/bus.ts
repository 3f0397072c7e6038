/**
 * Bus over Apache Kafka (node-rdkafka / librdkafka).
 *
 * Topics (p = prefix, `CLUSTER_PREFIX`; docs/design.md "Kafka topics, keys and offsets"; names, creation and deletion
 * in admin.ts):
 *   p.node.<nodeId>   one per node; created by start(), deleted on a graceful
 *                     leave or by the survivor that drains it (drainNode).
 *                     The node's consumer group is named after it.
 *   p.broadcast       shared by every node; created by whoever starts first.
 *
 * Receiving (consumer.ts; what it shares with a drain in reader.ts). One
 * KafkaConsumer per node reads both topics by explicit assignment (no group
 * membership, so no rebalances and no session timeouts to wait out when a node
 * dies):
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
 * Sending (producer.ts). One idempotent producer. Envelopes sent in one
 * event-loop turn to the same topic travel as one Kafka message (an envelope
 * batch, see ../envelope.ts), produced at the end of the turn: a burst costs
 * the broker, librdkafka and the receiving node one record instead of one per
 * envelope, and adds no waiting (nothing is held back for a later turn). On a
 * topic with more than one partition the batch is per key instead — the user
 * (or, for topic/event envelopes, the destination) — so one user's envelopes
 * keep their order. sendToNode()/broadcast() resolve on the delivery report of
 * the message that carried the envelope. The producer never auto-creates
 * topics: sending to a node whose topic is gone fails (CLUSTER_ERR_BUS_SEND)
 * instead of resurrecting it.
 *
 * drainNode() (drain.ts). A short-lived consumer in the dead node's group reads
 * the dead topic from its committed offset to the high watermark (re-checked
 * until it stops growing), hands each envelope to the handler in order,
 * commits, then deletes the topic. Kafka drops a deleted topic's committed
 * offsets itself; node-rdkafka 3.6 has no DeleteGroups call, and the empty
 * group expires. leave() stops the node's own consumer and drains its own
 * topic this way while the producer is still open.
 *
 * This file is the facade: the Bus interface over those parts, and the
 * lifecycle (start, close, leave) that orders them. Options: options.ts.
 */
import type { Bus, BusHooks, Envelope, EnvelopeHandler } from '../types.js';
import { ClusterError, ClusterErrorCode } from '../errors.js';
import { broadcastTopic, nodeTopic, TopicAdmin } from './admin.js';
import { BusConsumer } from './consumer.js';
import { NodeDrainer } from './drain.js';
import { isNamePart, type KafkaBusOptions, resolveKafkaBusOptions, type ResolvedKafkaBusOptions } from './options.js';
import { BusProducer } from './producer.js';
import type { BusContext } from './shared.js';

export type { KafkaBusOptions } from './options.js';

export class KafkaBus implements Bus {
  readonly options: ResolvedKafkaBusOptions;
  private readonly ctx: BusContext;
  private readonly admin: TopicAdmin;
  private readonly sender: BusProducer;
  private readonly receiver: BusConsumer;
  private readonly drainer: NodeDrainer;
  private starting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(opts: KafkaBusOptions) {
    const settings = resolveKafkaBusOptions(opts);
    this.options = settings.options;
    this.ctx = { ...settings, state: 'idle', nodeId: null, hooks: {}, leaving: false };
    this.admin = new TopicAdmin(this.ctx);
    this.sender = new BusProducer(this.ctx);
    this.receiver = new BusConsumer(this.ctx);
    this.drainer = new NodeDrainer(this.ctx, this.admin);
  }

  /** Node `nodeId`'s topic (and the name of its consumer group). */
  nodeTopic(nodeId: string): string {
    return nodeTopic(this.options.prefix, nodeId);
  }

  get broadcastTopic(): string {
    return broadcastTopic(this.options.prefix);
  }

  // -------------------------------------------------------------------------
  // Bus

  start(nodeId: string, handler: EnvelopeHandler, hooks: BusHooks = {}): Promise<void> {
    if (this.ctx.state !== 'idle') {
      return Promise.reject(new ClusterError(ClusterErrorCode.INVALID_STATE, `KafkaBus.start(): bus is ${this.ctx.state}`));
    }
    if (!isNamePart(nodeId)) {
      return Promise.reject(
        new ClusterError(ClusterErrorCode.INVALID_STATE, `KafkaBus: node id "${nodeId}" is not a valid topic name part`),
      );
    }
    this.ctx.state = 'starting';
    this.ctx.hooks = hooks;
    this.starting = this.doStart(nodeId, handler);
    return this.starting;
  }

  sendToNode(nodeId: string, env: Envelope): Promise<void> {
    return this.sender.send(this.nodeTopic(nodeId), env, nodeId);
  }

  broadcast(env: Envelope): Promise<void> {
    return this.sender.send(this.broadcastTopic, env, null);
  }

  drainNode(nodeId: string, handler: EnvelopeHandler): Promise<number> {
    return this.drainer.drainNode(nodeId, handler);
  }

  /**
   * Graceful leave: stop consuming this node's topic (committing what was
   * handled), hand everything still in it to `handler` in order (drainNode,
   * which re-checks the high watermark and then deletes the topic) while the
   * producer is still open, so re-routed envelopes can reach other nodes;
   * then close. Returns the number of envelopes handed over.
   */
  async leave(handler: EnvelopeHandler): Promise<number> {
    const nodeId = this.ctx.nodeId;
    if (this.ctx.state !== 'started' || this.ctx.leaving || !nodeId) {
      await this.close();
      return 0;
    }
    this.ctx.leaving = true;
    let handed = 0;
    try {
      await this.receiver.stop(true);
      handed = await this.drainer.drainNode(nodeId, handler);
    } finally {
      await this.close({ deleteOwnTopic: false });
    }
    return handed;
  }

  close(opts: { deleteOwnTopic?: boolean } = {}): Promise<void> {
    if (this.closing) return this.closing;
    const starting = this.ctx.state === 'starting' ? this.starting : null;
    this.closing = (async () => {
      // A start() in progress is bounded by startTimeoutMs: let it settle first.
      if (starting) await starting.catch(() => undefined);
      if (this.ctx.state === 'closed') return; // start() failed and cleaned up already
      const wasStarted = this.ctx.state === 'started';
      this.ctx.state = 'closing';
      await this.shutdown({ deleteOwnTopic: wasStarted && opts.deleteOwnTopic === true, commit: wasStarted });
    })();
    return this.closing;
  }

  // -------------------------------------------------------------------------
  // metrics

  /** Received envelopes waiting for the handler, whether fetching is paused, and how often it paused. */
  receiveStats(): { buffered: number; paused: boolean; pauses: number } {
    return this.receiver.receiveStats();
  }

  /**
   * Consumer lag of this node's topic: envelopes in the topic not yet handled
   * (high watermark, refreshed every few seconds, minus the next offset to handle).
   */
  lag(): number {
    return this.receiver.lag();
  }

  // -------------------------------------------------------------------------
  // lifecycle

  private async doStart(nodeId: string, handler: EnvelopeHandler): Promise<void> {
    const { options, log } = this.ctx;
    this.ctx.nodeId = nodeId;
    const deadline = Date.now() + options.startTimeoutMs;
    try {
      await Promise.all([
        this.admin.create(this.nodeTopic(nodeId), options.partitions),
        this.admin.create(this.broadcastTopic, options.broadcastPartitions),
      ]);
      // Whatever connected stays with its part, so that a failure below still disconnects it.
      const [producer, consumer] = await Promise.allSettled([this.sender.connect(), this.receiver.connect(deadline)]);
      if (producer.status === 'rejected') throw producer.reason;
      if (consumer.status === 'rejected') throw consumer.reason;
      const assignment = await this.receiver.assign(handler, deadline);
      this.ctx.state = 'started';
      this.receiver.run();
      log.debug({ nodeId, assignment }, 'kafka bus started');
    } catch (err) {
      log.error({ err, nodeId }, 'kafka bus failed to start');
      // Leave a clean, closed bus behind: nothing half-started keeps running.
      this.ctx.state = 'closing';
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

  private async shutdown(opts: { deleteOwnTopic: boolean; commit: boolean }): Promise<void> {
    const nodeId = this.ctx.nodeId;
    // 1. Consumer: stop taking envelopes, let the handlers in flight finish (bounded),
    //    final commit (pointless if the topic is deleted next), disconnect.
    //    Drains in progress see the closing state and stop at the next envelope.
    await this.receiver.stop(opts.commit && !opts.deleteOwnTopic);
    await this.drainer.settle();
    // 2. Producer (flushed), then own topic, then admin.
    // What was sent this turn still goes out; from here on no producer is created
    // any more and sends fail with CLUSTER_ERR_CLOSED.
    await this.sender.close();
    if (opts.deleteOwnTopic && nodeId) await this.admin.delete(this.nodeTopic(nodeId));
    this.admin.close();
    this.ctx.state = 'closed';
    this.ctx.log.debug({ nodeId }, 'kafka bus closed');
  }
}

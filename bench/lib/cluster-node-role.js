// Child process that runs one cluster node (createBroker() from dist/ with the
// Redis registry and inbox and the Kafka bus) for bench/cross-node.js, and the
// server-side publisher: broker.sendToUser(user, '/queue/bench', 128-byte body)
// round-robin over the users, as application code calls it. The same script is
// node A (publisher only: its users are all on B) and node B (the users'
// sessions; also the publisher of the same-node baseline).
//
// The body is the one lib/client-role.js reads: "<phase>|<seq>|<sent µs>|xxx…",
// the send time from CLOCK_MONOTONIC (lib/util.js nowUs, µs with fractions),
// taken just before the sendToUser call. Every process reads the same monotonic
// clock; performance.timeOrigin + performance.now() would add each process's
// wall-clock reading at start (two processes differed by ~20 µs here).
//
// Diagnostics a benchmark can ask for (none of them changes dist/): per-thread
// CPU (threads), librdkafka statistics (kafkaStats), per-message stage times
// (instrument/stages), and a count of the bus's offset commits (stats).
import { readdirSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { serveRole } from './ipc.js';
import { progressTracker } from './progress.js';
import { cpuSince, latencyHistogram, nowUs, pace, summarize } from './util.js';

const DESTINATION = '/queue/bench';
const BODY_BYTES = 128;
/** Publishes per event-loop turn in the flat-out loop before yielding. */
const BURST = 200;

let broker = null;
let users = [];
const progress = progressTracker();
let errors = 0;
let lastError = null;

/**
 * The broker core of `b`: `brokerCore()` from the build's internals.js, or the
 * `core` field of builds from before it (the previous version measured in the same run).
 */
async function coreOf(b) {
  if (b.core) return b.core;
  const { brokerCore } = await import(distUrl('internals.js'));
  return brokerCore(b);
}

/** Counters of a core, from snapshot() or (builds from before it) stats(). */
function countersOf(core) {
  if (typeof core.stats === 'function') return core.stats();
  const s = core.snapshot();
  return { sessions: s.sessions, framesIn: s.framesIn, framesOut: s.framesOut, ...s.dispatch, topicDeliveries: s.topicDeliveries };
}

/** Which nodes hold `user`: presence() or (builds from before it) the registry. */
async function nodesOf(core, user) {
  return typeof core.presence === 'function' ? (await core.presence(user)).nodes : core.registry.nodesOf(user);
}

let core = null;

const distUrl = (rel) => (process.env.BENCH_DIST ? new URL(rel, pathToFileURL(process.env.BENCH_DIST)).href : new URL(`../../dist/${rel}`, import.meta.url).href);

function body(phase, seq) {
  return Buffer.from(`${phase}|${seq}|${nowUs().toFixed(1)}|`.padEnd(BODY_BYTES, 'x'), 'latin1');
}

/** sendToUser for message `seq` of `phase` to users[i]; resolves (never rejects) when it settled. */
function publish(i, phase, seq) {
  return broker.sendToUser(users[i], DESTINATION, body(phase, seq)).then(
    () => true,
    (err) => {
      errors++;
      lastError = String(err?.message ?? err);
      return false;
    },
  );
}

/**
 * With producerConfig/consumerConfig/redisOptions the node builds its backends
 * itself (as src/cluster/factory.ts does) so the benchmark can try librdkafka
 * or ioredis settings without rebuilding; otherwise createBroker() builds them
 * from the URLs.
 */
let ownedRedis = null;
async function backends({ redisUrl, kafkaBrokers, prefix, producerConfig, consumerConfig, redisOptions }) {
  if (!producerConfig && !consumerConfig && !redisOptions) return {};
  const [{ RedisRegistry }, { RedisInbox }, { KafkaBus }, { createLogger }, { Redis }] = await Promise.all([
    import(distUrl('cluster/redis/registry.js')),
    import(distUrl('cluster/redis/inbox.js')),
    import(distUrl('cluster/kafka/bus.js')),
    import(distUrl('log.js')),
    import('ioredis'),
  ]);
  const logger = createLogger('warn');
  // An injected client is not closed by the registry: close() below does it.
  ownedRedis = redisOptions ? new Redis(redisUrl, { connectionName: 'bench-registry', ...redisOptions }) : null;
  return {
    logger,
    backends: {
      registry: new RedisRegistry({ redis: ownedRedis ?? redisUrl, prefix }),
      inbox: new RedisInbox({ redis: redisUrl, prefix }),
      bus: new KafkaBus({ brokers: kafkaBrokers, prefix, producerConfig, consumerConfig, logger: logger.child({ component: 'kafka' }) }),
    },
  };
}

/**
 * --kafka-stats (diagnostics): librdkafka's own statistics (statistics.interval.ms,
 * set through the producer/consumer config) of this node's producer and
 * consumer, read from their event.stats events. KafkaBus keeps its clients in
 * private fields of its parts (sender: BusProducer, receiver: BusConsumer);
 * they are reached on this instance only.
 */
const kafkaStats = { producer: null, consumer: null };
async function watchKafkaStats(bus) {
  const producer = await bus.sender?.client?.catch(() => null);
  producer?.on?.('event.stats', (e) => (kafkaStats.producer = JSON.parse(e.message)));
  bus.receiver?.client?.on?.('event.stats', (e) => (kafkaStats.consumer = JSON.parse(e.message)));
}

/** Totals of one client's statistics: requests sent and received, messages, per broker summed. */
function statTotals(st) {
  if (!st) return null;
  const out = { tx: 0, rx: 0, txmsgs: st.txmsgs ?? 0, rxmsgs: st.rxmsgs ?? 0, batchcntAvg: null, rttAvgUs: null, reqs: {} };
  for (const b of Object.values(st.brokers ?? {})) {
    if (b.nodeid < 0) continue; // bootstrap placeholder
    out.tx += b.tx ?? 0;
    out.rx += b.rx ?? 0;
    if (b.rtt?.avg) out.rttAvgUs = b.rtt.avg;
    for (const [k, v] of Object.entries(b.req ?? {})) if (v) out.reqs[k] = (out.reqs[k] ?? 0) + v;
  }
  for (const t of Object.values(st.topics ?? {})) if (t.batchcnt?.cnt) out.batchcntAvg = t.batchcnt.avg;
  return out;
}

/**
 * --breakdown (diagnostics): per measured message (phase L), the CLOCK_MONOTONIC
 * time at which this node handed it to the bus (bus.sendToNode, after the
 * registry lookup) and at which it started delivering it to local sessions
 * (dispatcher.deliverLocal). Installed by wrapping those two methods of this
 * node's broker instance; nothing in dist/ changes. Indexed by sequence number.
 */
let stages = null;
const BAR = 0x7c; // '|'

/** seq and send time (µs) of a phase-L body, or null. */
function stamp(body) {
  if (!body || body[0] !== 0x4c /* L */) return null;
  const a = 2;
  const b = body.indexOf(BAR, a);
  const c = body.indexOf(BAR, b + 1);
  if (b < 0 || c < 0) return null;
  return { seq: Number(body.toString('latin1', a, b)), sent: Number(body.toString('latin1', b + 1, c)) };
}

function instrument(size) {
  stages = { sent: new Float64Array(size), produced: new Float64Array(size), delivered: new Float64Array(size) };
  if (broker.__benchWrapped) return;
  broker.__benchWrapped = true;
  const bus = core.bus;
  const sendToNode = bus.sendToNode.bind(bus);
  bus.sendToNode = (node, env) => {
    const s = stages && stamp(env.body);
    if (s && s.seq < stages.sent.length) {
      stages.produced[s.seq] = nowUs();
      stages.sent[s.seq] = s.sent;
    }
    return sendToNode(node, env);
  };
  const dispatcher = core.dispatcher;
  const deliverLocal = dispatcher.deliverLocal.bind(dispatcher);
  dispatcher.deliverLocal = (env, ...rest) => {
    const s = stages && stamp(env.body);
    if (s && s.seq < stages.sent.length) {
      stages.delivered[s.seq] = nowUs();
      stages.sent[s.seq] = s.sent;
    }
    return deliverLocal(env, ...rest);
  };
}

serveRole({
  async start({ redisUrl, kafkaBrokers, prefix, producerConfig, consumerConfig, redisOptions }) {
    const { createBroker } = await import(distUrl('index.js'));
    const opts = {
      port: 0,
      host: '127.0.0.1',
      logLevel: 'warn',
      redisUrl,
      kafkaBrokers,
      clusterPrefix: prefix,
      heartbeat: { outgoingMs: 0, incomingMs: 0 },
    };
    Object.assign(opts, await backends({ redisUrl, kafkaBrokers, prefix, producerConfig, consumerConfig, redisOptions }));
    broker = createBroker(opts, { env: false });
    const { port } = await broker.listen();
    core = await coreOf(broker);
    await watchKafkaStats(core.bus);
    // Diagnostics: how often the bus commits offsets (the CommitCoalescer of KafkaBus's private
    // receiver; counted on this instance).
    const bus = core.bus;
    const commits = bus.receiver?.commits;
    if (typeof commits?.commit === 'function') {
      const commit = commits.commit;
      bus.__benchCommits = 0;
      commits.commit = function (...args) {
        bus.__benchCommits++;
        return commit.apply(this, args);
      };
    }
    return { port, nodeId: broker.nodeId, pid: process.pid, injectedBus: !!opts.bus };
  },

  setUsers(args) {
    users = args.users;
    return users.length;
  },

  /** Which nodes the registry lists for each user (a check that the sessions are registered before measuring). */
  async lookup({ users: list }) {
    return Promise.all(list.map((u) => nodesOf(core, u)));
  },

  instrument({ size }) {
    instrument(size);
    return true;
  },

  /** The recorded stage times (see instrument()), then recording stops. */
  stages() {
    const out = stages;
    stages = null;
    return out;
  },

  /**
   * CPU time (ms) of each thread of this process so far, summed by thread name
   * (/proc/self/task/<tid>/stat): the JS thread ("node"), libuv's pool, V8's
   * workers, librdkafka's threads ("rdk:main", "rdk:broker…") and so on.
   */
  threads() {
    const out = {};
    try {
      for (const tid of readdirSync('/proc/self/task')) {
        try {
          const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
          const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
          const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          out[name] = (out[name] ?? 0) + ((Number(f[11]) + Number(f[12])) / 100) * 1000;
        } catch {
          /* thread ended */
        }
      }
    } catch {
      /* no /proc */
    }
    return out;
  },

  kafkaStats() {
    return { producer: statTotals(kafkaStats.producer), consumer: statTotals(kafkaStats.consumer) };
  },

  stats() {
    return { ...countersOf(core), sessionsOpen: core.sessions.size, errors, lastError, busCommits: core.bus.__benchCommits ?? 0 };
  },

  cpuUsage() {
    return process.cpuUsage();
  },

  /**
   * Flat out: publish `n` messages round-robin as fast as they are taken, with
   * at most `inflight` sendToUser calls unsettled (a settled call is one handed
   * to local sockets or, by its delivery report, to Kafka) and at most `window`
   * messages not yet counted by the clients (their progress reports), so the
   * backlog between the nodes stays bounded too.
   */
  flatout({ phase, n: wanted, inflight, window, maxMs = Infinity }) {
    let n = wanted; // lowered to what was sent when maxMs runs out (a bound on a slow or busy machine)
    const cpu0 = process.cpuUsage();
    const nu = users.length;
    const handoff = latencyHistogram();
    let sent = 0;
    let settled = 0;
    let inflightStalls = 0;
    let windowStalls = 0;
    let blockedOnInflight = false;
    let scheduled = false;
    const errors0 = errors;
    const t0 = nowUs();
    let tPublished = 0;
    return new Promise((resolve) => {
      const finish = () =>
        resolve({
          sent,
          truncated: sent < wanted,
          t0,
          tPublished,
          tSettled: nowUs(),
          inflightStalls,
          windowStalls,
          errors: errors - errors0,
          handoffMs: summarize(handoff),
          cpu: cpuSince(cpu0),
        });
      const schedule = () => {
        if (scheduled) return;
        scheduled = true;
        setImmediate(pump);
      };
      const onSettled = (t) => {
        handoff.recordValue(Math.max(1, Math.round(nowUs() - t)));
        settled++;
        if (blockedOnInflight && sent - settled < inflight) {
          blockedOnInflight = false;
          schedule();
        }
        if (sent === n && settled === n) finish();
      };
      const pump = () => {
        scheduled = false;
        progress.next(null);
        if (nowUs() - t0 > maxMs * 1000 && sent < n) {
          n = sent;
          tPublished = nowUs();
          if (settled === n) finish();
          return;
        }
        for (let b = 0; sent < n; b++) {
          if (b === BURST) return schedule();
          if (sent - settled >= inflight) {
            inflightStalls++;
            blockedOnInflight = true;
            return;
          }
          if (sent - progress.received(phase) >= window) {
            windowStalls++;
            progress.next(schedule);
            return;
          }
          const t = nowUs();
          publish(sent % nu, phase, sent).then(() => onSettled(t));
          sent++;
        }
        tPublished = nowUs();
      };
      pump();
    });
  },

  /**
   * Paced: `rate` messages a second for warmupMs (phase W, not measured), then
   * measureMs (phase L). A 1 ms timer publishes whatever is due; sendToUser is
   * not awaited (open loop). The pacer's own lateness is recorded, so a
   * stalled event loop shows rather than hiding as fewer slow messages. The
   * time until each measured sendToUser settled is recorded as `handoffMs`.
   */
  async latency(args) {
    const cpu0 = process.cpuUsage();
    const nu = users.length;
    const handoff = latencyHistogram();
    const errors0 = errors;
    let unsettled = 0;
    let maxUnsettled = 0;
    let published = false;
    let allSettled;
    const settled = new Promise((resolve) => (allSettled = resolve));
    const p = await pace(args, (i, measured) => {
      const t = nowUs();
      unsettled++;
      if (unsettled > maxUnsettled) maxUnsettled = unsettled;
      publish(i % nu, measured ? 'L' : 'W', i).then(() => {
        unsettled--;
        if (measured) handoff.recordValue(Math.max(1, Math.round(nowUs() - t)));
        if (published && unsettled === 0) allSettled();
      });
    });
    published = true;
    if (unsettled > 0) await settled;
    return {
      warm: p.warm,
      measured: p.measured,
      achievedRate: p.achievedRate,
      pacerLag: p.pacerLag,
      handoffMs: summarize(handoff),
      maxUnsettled,
      errors: errors - errors0,
      cpu: cpuSince(cpu0),
      cpuMeasured: p.measureStart ? cpuSince(p.measureStart) : null,
    };
  },

  async close() {
    await broker?.close();
    await ownedRedis?.quit().catch(() => ownedRedis.disconnect());
    return true;
  },

  onEvent: progress.onEvent,
});

/**
 * KafkaBus option resolution (src/cluster/kafka/options.ts): defaults for what
 * is left out, validation. No Kafka needed.
 */
import t from 'tap';
import { ClusterErrorCode, silentLogger, type ClusterLogger } from '../../src/cluster/errors.js';
import { isNamePart, KAFKA_BUS_DEFAULTS, resolveKafkaBusOptions } from '../../src/cluster/kafka/options.js';
import { KafkaBus, type KafkaBusOptions } from '../../src/cluster/kafka/bus.js';

const brokers = '127.0.0.1:9092';

t.test('defaults fill what is left out, and what is set to undefined', async (t) => {
  const { options, log, topicConfig, producerConfig, consumerConfig } = resolveKafkaBusOptions({ brokers, maxBuffered: undefined });
  t.same(options, { ...KAFKA_BUS_DEFAULTS, brokers });
  t.equal(options.maxBuffered, 10_000, 'receive bound');
  t.equal(options.commitIntervalMs, 100, 'commit interval');
  t.equal(options.maxMessageBytes, 8 * 1024 * 1024, 'largest envelope');
  t.equal(options.prefix, 'stomp-cluster');
  t.equal(log, silentLogger, 'silent without a logger');
  t.same([topicConfig, producerConfig, consumerConfig], [{}, {}, {}], 'no extra configs');
});

t.test('what is set wins over the defaults; object options are passed through', async (t) => {
  const logger: ClusterLogger = { ...silentLogger };
  const opts: KafkaBusOptions = {
    brokers,
    prefix: 'p_1.x-y',
    partitions: 3,
    commitIntervalMs: 0,
    logger,
    topicConfig: { 'retention.ms': '1000' },
    producerConfig: { 'linger.ms': 5 },
    consumerConfig: { 'fetch.wait.max.ms': 10 },
  };
  const s = resolveKafkaBusOptions(opts);
  t.equal(s.options.prefix, 'p_1.x-y');
  t.equal(s.options.partitions, 3);
  t.equal(s.options.commitIntervalMs, 0, 'a zero is kept, not replaced by the default');
  t.equal(s.options.broadcastPartitions, KAFKA_BUS_DEFAULTS.broadcastPartitions, 'the rest defaulted');
  t.equal(s.log, logger);
  t.equal(s.topicConfig, opts.topicConfig);
  t.equal(s.producerConfig, opts.producerConfig);
  t.equal(s.consumerConfig, opts.consumerConfig);
});

t.test('brokers are required', async (t) => {
  for (const bad of ['', '   ']) {
    t.throws(() => resolveKafkaBusOptions({ brokers: bad }), { code: ClusterErrorCode.INVALID_STATE }, JSON.stringify(bad));
  }
});

t.test('the prefix must be usable in a topic name', async (t) => {
  for (const bad of ['bad prefix', 'a/b', 'ü', '']) {
    t.throws(() => resolveKafkaBusOptions({ brokers, prefix: bad }), { code: ClusterErrorCode.INVALID_STATE }, JSON.stringify(bad));
  }
  t.ok(isNamePart('A-z_0.9'), 'letters, digits, dot, dash, underscore');
  t.notOk(isNamePart('a b'), 'no spaces');
});

t.test('KafkaBus resolves its options the same way (and connects to nothing when constructed)', async (t) => {
  const bus = new KafkaBus({ brokers, handlerRetries: 1 });
  t.same(bus.options, { ...KAFKA_BUS_DEFAULTS, brokers, handlerRetries: 1 });
  t.throws(() => new KafkaBus({ brokers: '' }), { code: ClusterErrorCode.INVALID_STATE });
  await bus.close();
});

/**
 * What tests may see inside a broker that createBroker() made and that listens:
 * its core (sessions, counters, queues, memory budget, bus, dispatcher), which
 * the public StompBroker does not expose.
 */
import type { Broker } from '../../src/broker/broker.js';
import { brokerCore } from '../../src/internals.js';
import type { StompBroker } from '../../src/index.js';

export function core(broker: StompBroker): Broker {
  return brokerCore(broker);
}

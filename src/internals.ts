/**
 * The broker core behind a StompBroker, for the project's own tests and
 * benchmarks (spec/helpers/internals.ts, bench/). Not part of the package's
 * API: applications use StompBroker, the HTTP side uses BrokerView.
 */
import type { Broker } from './broker/broker.js';

const cores = new WeakMap<object, () => Broker | null>();

/** Called by createBroker() for each broker it makes. */
export function exposeCore(broker: object, core: () => Broker | null): void {
  cores.set(broker, core);
}

/** The core of a broker made by createBroker(), once it listens. */
export function brokerCore(broker: object): Broker {
  const core = cores.get(broker)?.();
  if (!core) throw new Error('brokerCore: not a listening broker made by createBroker()');
  return core;
}

/**
 * `startBroker` takes its interceptors before it has built the core they publish through. A late-bound
 * core lets the store server be created first and pointed at the real core once the broker runs:
 *
 *   const core = lateBoundCore(log);
 *   const store = createStoreServer(core, { dataDir });
 *   const broker = await startBroker({ dataDir, interceptors: [store] });
 *   core.bind(broker.core);
 */
import { silentLogger, type Logger } from '../../log';
import type { BrokerCore, OutboundMessage } from '../types';

export interface LateBoundCore extends BrokerCore {
  bind(core: BrokerCore): void;
}

export function lateBoundCore(log: Logger = silentLogger): LateBoundCore {
  let target: BrokerCore | undefined;
  return {
    get log(): Logger {
      return target?.log ?? log;
    },
    publish(msg: OutboundMessage): void {
      if (!target) throw new Error('store server: publish before the broker core was bound (call bind(broker.core) after startBroker)');
      target.publish(msg);
    },
    bind(core: BrokerCore): void {
      target = core;
    },
  };
}

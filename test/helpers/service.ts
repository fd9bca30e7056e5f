import { parseYamlConfig } from '../../src/config/load.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { nopLogger } from '../../src/service/logger.js';
import type { Logger } from '../../src/service/logger.js';
import { Service } from '../../src/service/service.js';
import { SelfTelemetry } from '../../src/service/telemetry.js';
import { componentsWithTestReceiver } from './components.js';
import { TEST_HOST } from './settings.js';
import type { TestReceiver } from './test-receiver.js';
import { testReceivers } from './test-receiver.js';

export interface RunningService {
  readonly service: Service;
  readonly telemetry: SelfTelemetry;
  /** The `testgen` receiver instance with this id, to push data on demand. */
  receiver(id?: string): TestReceiver;
  /** A counter's value summed over label matches (e.g. dropped items by reason). */
  counter(name: string, match?: Record<string, string>): number;
  stop(): Promise<void>;
}

/**
 * Starts the real Service from YAML with the built-in components plus `testgen`. The self-telemetry
 * endpoint is turned off unless the YAML configures it.
 */
export async function startService(yaml: string, opts: { env?: NodeJS.ProcessEnv; logger?: Logger } = {}): Promise<RunningService> {
  const loaded = parseYamlConfig(yaml, 'test.yaml', opts.env ?? process.env);
  const { config, issues } = resolveConfig(loaded, componentsWithTestReceiver());
  if (!config) throw new Error(`invalid test config:\n${issues.map((i) => `${i.path.join('::')}: ${i.message}`).join('\n')}`);
  const telemetry = new SelfTelemetry();
  const cfg = yaml.includes('telemetry:') ? config : { ...config, telemetry: { ...config.telemetry, metrics: { ...config.telemetry.metrics, level: 'none' as const } } };
  const service = new Service(cfg, { logger: opts.logger ?? nopLogger(), telemetry, host: TEST_HOST });
  await service.start();
  return {
    service,
    telemetry,
    receiver: (id = 'testgen') => {
      const r = testReceivers.get(id);
      if (!r) throw new Error(`no testgen receiver ${id}`);
      return r;
    },
    counter: (name, match = {}) => telemetry.counterValue(name, match),
    stop: () => service.shutdown(),
  };
}

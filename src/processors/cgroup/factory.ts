import type { ProcessorFactory, Settings } from '../../component/factory.js';
import { SharedComponents } from '../../component/shared.js';
import { newResourceProcessor } from '../../helpers/resource-processor.js';
import { CgroupProcessorCore } from './cgroup.js';
import type { CgroupProcessorConfig } from './config.js';
import { cgroupProcessorConfigSchema, createDefaultCgroupProcessorConfig } from './config.js';

const shared = new SharedComponents<CgroupProcessorConfig, CgroupProcessorCore>();

function core(set: Settings, cfg: CgroupProcessorConfig) {
  const s = shared.getOrCreate(cfg, () => new CgroupProcessorCore(set, cfg));
  const h = s.handle();
  return { enricher: s.instance.enricher, lifecycle: { start: h.start, shutdown: h.shutdown } };
}

export const cgroupProcessorFactory: ProcessorFactory<CgroupProcessorConfig> = {
  kind: 'processor',
  type: 'cgroup',
  description: 'process.pid / sonde.cgroup.path → cgroup path, container.id, container.runtime, k8s.pod.uid (v1, v2, hybrid).',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  configSchema: cgroupProcessorConfigSchema,
  createDefaultConfig: createDefaultCgroupProcessorConfig,
  createTraces(set, cfg, next) {
    const c = core(set, cfg);
    return newResourceProcessor('traces', next, c.enricher, c.lifecycle);
  },
  createMetrics(set, cfg, next) {
    const c = core(set, cfg);
    return newResourceProcessor('metrics', next, c.enricher, c.lifecycle);
  },
  createLogs(set, cfg, next) {
    const c = core(set, cfg);
    return newResourceProcessor('logs', next, c.enricher, c.lifecycle);
  },
};

import type { ProcessorFactory, Settings } from '../../component/factory.js';
import { SharedComponents } from '../../component/shared.js';
import { newResourceProcessor } from '../../helpers/resource-processor.js';
import type { K8sAttributesConfig } from './config.js';
import { createDefaultK8sAttributesConfig, k8sAttributesConfigSchema } from './config.js';
import { K8sAttributesCore } from './k8sattributes.js';

const shared = new SharedComponents<K8sAttributesConfig, K8sAttributesCore>();

function core(set: Settings, cfg: K8sAttributesConfig) {
  const s = shared.getOrCreate(cfg, () => new K8sAttributesCore(set, cfg));
  const h = s.handle();
  return { enricher: s.instance.enricher, lifecycle: { start: h.start, shutdown: h.shutdown } };
}

export const k8sAttributesProcessorFactory: ProcessorFactory<K8sAttributesConfig> = {
  kind: 'processor',
  type: 'k8sattributes',
  description: 'k8s.pod.*, k8s.namespace.name, k8s.node.name, owning workload, pod labels/annotations and service.name, from the Kubernetes API (this node\'s pods).',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  configSchema: k8sAttributesConfigSchema,
  createDefaultConfig: createDefaultK8sAttributesConfig,
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

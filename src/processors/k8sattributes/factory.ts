import type { ProcessorFactory } from '../../component/factory.js';
import { sharedResourceProcessorMethods } from '../../helpers/resource-processor.js';
import type { K8sAttributesConfig } from './config.js';
import { createDefaultK8sAttributesConfig, k8sAttributesConfigSchema } from './config.js';
import { K8sAttributesCore } from './k8sattributes.js';

export const k8sAttributesProcessorFactory: ProcessorFactory<K8sAttributesConfig> = {
  kind: 'processor',
  type: 'k8sattributes',
  description: 'k8s.pod.*, k8s.namespace.name, k8s.node.name, owning workload, pod labels/annotations and service.name, from the Kubernetes API (this node\'s pods).',
  stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
  configSchema: k8sAttributesConfigSchema,
  createDefaultConfig: createDefaultK8sAttributesConfig,
  ...sharedResourceProcessorMethods((set, cfg: K8sAttributesConfig) => new K8sAttributesCore(set, cfg)),
};

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { DEFAULT_CONTAINERD_NAMESPACES } from '../../internal/cgroup/index.js';
import { defaultRuntimesConfig, runtimesSchema } from '../../internal/runtime/index.js';

export const containerProcessorConfigSchema = s.object({
  runtimes: runtimesSchema,
  containerd_namespaces: s.array(s.string({ nonEmpty: true })).describe('containerd namespaces whose `/<namespace>/<id>` cgroup paths are containers (used when only `sonde.cgroup.path` is set).'),
  labels: s.array(s.string({ nonEmpty: true })).describe('Container labels copied to the resource as `container.label.<key>` (semconv).'),
  kubernetes_labels: s.bool().describe('Add k8s.pod.name, k8s.namespace.name, k8s.pod.uid and k8s.container.name from the labels the kubelet puts on containers.'),
  wait_for_metadata: s.bool().describe('Hold a batch until the runtimes answered (bounded by runtimes.timeout); when false, a batch goes on at once and later batches get the metadata.'),
}).describe('container.id → metadata from the container runtime (Docker, containerd, CRI-O).');

export type ContainerProcessorConfig = Infer<typeof containerProcessorConfigSchema>;

export function createDefaultContainerProcessorConfig(): ContainerProcessorConfig {
  return {
    runtimes: defaultRuntimesConfig(),
    containerd_namespaces: [...DEFAULT_CONTAINERD_NAMESPACES],
    // Docker Swarm's and Compose's identity labels (coroot names swarm containers from them).
    labels: ['com.docker.stack.namespace', 'com.docker.swarm.service.name', 'com.docker.swarm.task.name', 'com.docker.compose.project', 'com.docker.compose.service'],
    kubernetes_labels: true,
    wait_for_metadata: true,
  };
}

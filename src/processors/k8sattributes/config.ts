import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { SERVICE_ACCOUNT_DIR } from '../../internal/k8s/index.js';

export const k8sAttributesConfigSchema = s.object({
  auth_type: s.enum(['serviceAccount', 'kubeConfig', 'none'] as const).describe('How to reach the API server: the pod\'s service account (in-cluster), a kubeconfig file, or not at all (only the runtime\'s labels are used).'),
  kubeconfig_path: s.string().describe('kubeconfig file for auth_type kubeConfig; empty: $KUBECONFIG, else ~/.kube/config.'),
  context: s.string().describe('kubeconfig context; empty: the current context.'),
  service_account_dir: s.string({ nonEmpty: true }).describe('Where the service account token and CA are mounted (auth_type serviceAccount).'),
  node_name: s.string().describe('Watch only pods on this node; empty: this node (K8S_NODE_NAME, else the hostname). Use "*" for every pod.'),
  resync_period: s.duration(1000).describe('Full relist of the node\'s pods this often, even when the watch is healthy.'),
  watch_timeout: s.duration(1000).describe('Server-side timeout of one watch request (it is resumed from the last resourceVersion).'),
  pod_delete_grace_period: s.duration(0).describe('Deleted pods keep answering this long, for their data still in the pipeline.'),
  wait_for_metadata: s.bool().describe('Hold batches until the first pod list arrived (bounded by wait_for_metadata_timeout).'),
  wait_for_metadata_timeout: s.duration(0).describe('Longest wait for the first pod list.'),
  service_name: s.bool().describe('Set service.name: the resource.opentelemetry.io/service.name annotation, else the app.kubernetes.io/name label, else the workload name.'),
  extract: s.object({
    labels: s.array(s.string({ nonEmpty: true })).describe('Pod labels copied as `k8s.pod.label.<key>`.'),
    annotations: s.array(s.string({ nonEmpty: true })).describe('Pod annotations copied as `k8s.pod.annotation.<key>`.'),
  }).describe('Pod labels and annotations to add.'),
}).describe('Pod, namespace, node and owning workload of a container, from runtime labels and the Kubernetes API.');

export type K8sAttributesConfig = Infer<typeof k8sAttributesConfigSchema>;

export function createDefaultK8sAttributesConfig(): K8sAttributesConfig {
  return {
    auth_type: 'serviceAccount',
    kubeconfig_path: '',
    context: '',
    service_account_dir: SERVICE_ACCOUNT_DIR,
    node_name: '',
    resync_period: 600_000,
    watch_timeout: 300_000,
    pod_delete_grace_period: 120_000,
    wait_for_metadata: false,
    wait_for_metadata_timeout: 10_000,
    service_name: true,
    extract: { labels: [], annotations: [] },
  };
}

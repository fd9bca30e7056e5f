// Kubernetes API access for the k8sattributes processor: cluster config, a small client, a pod informer.
export { inClusterConfig, kubeconfigConfig, defaultKubeconfigPath, SERVICE_ACCOUNT_DIR } from './config.js';
export type { ClusterConfig } from './config.js';
export { KubeClient, KubeApiError } from './client.js';
export type { WatchEvent } from './client.js';
export { PodInformer } from './informer.js';
export type { PodInformerOptions, InformerStats } from './informer.js';
export { podInfo, workloadOf, serviceNameOf } from './pods.js';
export type { PodInfo, Workload } from './pods.js';

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';

/**
 * Where to find the container runtimes' APIs. Shared by the `container` processor and the `cgroups`
 * receiver (which needs names and images for container_info and restart counting). Each runtime lists
 * candidate socket paths; the first that exists is used, and a runtime with none is skipped (logged once).
 */
export const runtimesSchema = s.object({
  docker: s.object({
    enabled: s.bool().describe('Ask the Docker Engine API.'),
    endpoints: s.array(s.string({ nonEmpty: true })).describe('Candidate Docker socket paths, first existing wins.'),
  }).describe('Docker Engine API (unix socket).'),
  containerd: s.object({
    enabled: s.bool().describe('Ask containerd.'),
    endpoints: s.array(s.string({ nonEmpty: true })).describe('Candidate containerd socket paths (standard, k3s, microk8s, k0s), first existing wins.'),
    namespaces: s.array(s.string({ nonEmpty: true })).describe('containerd namespaces to search when the cgroup path does not name one (`k8s.io` holds Kubernetes containers).'),
  }).describe('containerd gRPC API (unix socket).'),
  crio: s.object({
    enabled: s.bool().describe('Ask CRI-O.'),
    endpoints: s.array(s.string({ nonEmpty: true })).describe('Candidate CRI-O socket paths, first existing wins.'),
  }).describe('CRI-O inspect API (unix socket).'),
  timeout: s.duration(1).describe('Deadline of one metadata request.'),
  cache_ttl: s.duration(0).describe('How long container metadata is kept after it was last used.'),
  negative_cache_ttl: s.duration(0).describe('How long "no runtime knows this id" is remembered.'),
  recheck_interval: s.duration(100).describe('How often a missing or failing runtime socket is checked again.'),
}).describe('Container runtime APIs to ask for container metadata.');

export type RuntimesConfig = Infer<typeof runtimesSchema>;

export const DEFAULT_CONTAINERD_SOCKETS = [
  '/run/containerd/containerd.sock',
  '/run/k3s/containerd/containerd.sock',
  '/var/snap/microk8s/common/run/containerd.sock',
  '/run/k0s/containerd.sock',
];

export function defaultRuntimesConfig(): RuntimesConfig {
  return {
    docker: { enabled: true, endpoints: ['/var/run/docker.sock', '/run/docker.sock'] },
    containerd: { enabled: true, endpoints: [...DEFAULT_CONTAINERD_SOCKETS], namespaces: ['k8s.io', 'default', 'moby'] },
    crio: { enabled: true, endpoints: ['/var/run/crio/crio.sock', '/run/crio/crio.sock'] },
    timeout: 2000,
    cache_ttl: 600_000,
    negative_cache_ttl: 30_000,
    recheck_interval: 30_000,
  };
}

import type { Infer } from '../../config/schema.js';
import { s } from '../../config/schema.js';
import { DEFAULT_CONTAINERD_NAMESPACES } from '../../internal/cgroup/index.js';

export const cgroupProcessorConfigSchema = s.object({
  root_path: s.string({ nonEmpty: true }).describe('Host root (e.g. `/host` in a container with hostPID and the host mounted): /proc is read under it.'),
  containerd_namespaces: s.array(s.string({ nonEmpty: true })).describe('containerd namespaces whose `/<namespace>/<id>` cgroups are containers (ctr, nerdctl).'),
  max_pids: s.int({ min: 16 }).describe('Bound of the pid → cgroup cache (least recently used entries are evicted).'),
  revalidate_interval: s.duration(0).describe('A cached pid is trusted this long before /proc is read again (process moved, pid reused).'),
  exited_grace_period: s.duration(0).describe('How long an exited process\'s cgroup keeps answering, for its data still in the pipeline.'),
}).describe('Process id or cgroup path → cgroup path, container id and runtime.');

export type CgroupProcessorConfig = Infer<typeof cgroupProcessorConfigSchema>;

export function createDefaultCgroupProcessorConfig(): CgroupProcessorConfig {
  return { root_path: '/', containerd_namespaces: [...DEFAULT_CONTAINERD_NAMESPACES], max_pids: 16_384, revalidate_interval: 10_000, exited_grace_period: 60_000 };
}

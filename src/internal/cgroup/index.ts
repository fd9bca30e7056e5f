// The cgroup toolkit shared by the cgroup processor, the cgroups receiver and the eBPF receiver.
export { normalizeCgroupPath, parseProcCgroup, selectCgroupPath, cgroupPathFromProcFile } from './path.js';
export type { ProcCgroup } from './path.js';
export { recognizeCgroup, unescapeSystemd, DEFAULT_CONTAINERD_NAMESPACES, SYSTEMD_SERVICE_SLICES } from './recognize.js';
export type { CgroupInfo, CgroupKind, ContainerRuntime, QosClass, RecognizeOptions } from './recognize.js';
export { CgroupFs, walkCgroups } from './fs.js';
export type { CgroupMode, V1Controller } from './fs.js';
export { PidCgroupResolver, CgroupIdResolver, parseStatStartTime, readProcStartTime, readProcCgroup, cgroupPids, listPids } from './resolver.js';
export type { PidCgroup, PidCgroupResolverOptions, ResolverStats } from './resolver.js';

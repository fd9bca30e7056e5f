import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { CGROUP_PATH_ATTR } from '../../../internal/coroot.js';
import type { HostInfo } from '../../../internal/host-info.js';

/**
 * One shared Resource object per process (spans) and per cgroup (metrics), so batches and exporters group
 * by identity instead of comparing attributes. Attributes: `host.*` of the node, `sonde.cgroup.path`
 * (container processors derive container.id / k8s.* / coroot's container_id from it) and, for processes,
 * `process.pid`. Bounded: the least recently created entries are dropped beyond `max`.
 */
export class ResourceCache {
  readonly #base: Attributes;
  readonly #byPid = new Map<number, { cgroup: string; resource: Resource }>();
  readonly #byCgroup = new Map<string, Resource>();
  readonly #max: number;

  constructor(host: Pick<HostInfo, 'hostname' | 'machineId' | 'arch'>, max = 16384) {
    this.#base = {
      'host.name': host.hostname,
      ...(host.machineId ? { 'host.id': host.machineId } : {}),
      'host.arch': host.arch,
    };
    this.#max = max;
  }

  /** The resource of a process (spans). Same object for every call with the same pid and cgroup. */
  forProcess(pid: number, cgroupPath: string): Resource {
    const e = this.#byPid.get(pid);
    if (e !== undefined && e.cgroup === cgroupPath) return e.resource;
    const resource = resourceFromAttributes({ ...this.#base, 'process.pid': pid, [CGROUP_PATH_ATTR]: cgroupPath });
    if (e === undefined && this.#byPid.size >= this.#max) this.#byPid.delete(this.#byPid.keys().next().value as number);
    this.#byPid.set(pid, { cgroup: cgroupPath, resource });
    return resource;
  }

  /** The resource of a cgroup (metrics aggregate per container). */
  forCgroup(cgroupPath: string): Resource {
    let r = this.#byCgroup.get(cgroupPath);
    if (r === undefined) {
      r = resourceFromAttributes({ ...this.#base, [CGROUP_PATH_ATTR]: cgroupPath });
      if (this.#byCgroup.size >= this.#max) this.#byCgroup.delete(this.#byCgroup.keys().next().value as string);
      this.#byCgroup.set(cgroupPath, r);
    }
    return r;
  }

  /** A process exited: forget its resource. */
  dropProcess(pid: number): void {
    this.#byPid.delete(pid);
  }
}

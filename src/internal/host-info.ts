import { readFileSync } from 'node:fs';
import { arch, hostname, release } from 'node:os';
import { join } from 'node:path';

/** Facts about the node, read once at start-up. `hostRoot` lets a containerised agent read the host's files. */
export interface HostInfo {
  readonly hostname: string;
  /** /etc/machine-id (coroot's machine_id); '' when unreadable. */
  readonly machineId: string;
  /** DMI product UUID (coroot's system_uuid); '' when unreadable (needs root, absent on some VMs). */
  readonly systemUuid: string;
  readonly kernelRelease: string;
  readonly arch: string;
}

function readTrim(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

export function readHostInfo(hostRoot = '/'): HostInfo {
  const machineId = readTrim(join(hostRoot, 'etc/machine-id')) || readTrim(join(hostRoot, 'var/lib/dbus/machine-id'));
  const systemUuid = readTrim(join(hostRoot, 'sys/class/dmi/id/product_uuid')).toLowerCase();
  return {
    hostname: process.env.K8S_NODE_NAME || hostname(),
    machineId,
    systemUuid,
    kernelRelease: release(),
    arch: arch(),
  };
}

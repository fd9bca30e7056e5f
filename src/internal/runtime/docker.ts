import type { ContainerMetadata, InspectHint, RuntimeClient } from './metadata.js';
import { k8sIdentity, parseImageRef, RuntimeUnavailableError } from './metadata.js';
import { unixGet } from './http-unix.js';

interface DockerInspect {
  Id?: string;
  Name?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null; Env?: string[] | null };
}

/** Docker Engine API over its unix socket: `GET /containers/<id>/json`. */
export class DockerClient implements RuntimeClient {
  readonly runtime = 'docker' as const;
  readonly endpoint: string;
  constructor(socketPath: string) {
    this.endpoint = socketPath;
  }

  async inspect(id: string, _hint: InspectHint, signal: AbortSignal): Promise<ContainerMetadata | null> {
    let res;
    try {
      res = await unixGet(this.endpoint, `/containers/${encodeURIComponent(id)}/json`, signal);
    } catch (e) {
      throw new RuntimeUnavailableError('docker', `docker API at ${this.endpoint}: ${(e as Error).message}`);
    }
    if (res.status === 404) return null;
    if (res.status !== 200) throw new RuntimeUnavailableError('docker', `docker API answered ${res.status}: ${res.body.slice(0, 200)}`);
    return dockerMetadata(JSON.parse(res.body) as DockerInspect, id);
  }

  close(): void {}
}

export function dockerMetadata(j: DockerInspect, id: string): ContainerMetadata {
  const labels = j.Config?.Labels ?? {};
  const env: Record<string, string> = {};
  for (const kv of j.Config?.Env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const image = j.Config?.Image;
  const img = image ? parseImageRef(image) : undefined;
  const k8s = k8sIdentity(labels);
  const name = j.Name?.replace(/^\//, '');
  return {
    id: j.Id ?? id,
    runtime: 'docker',
    ...(name ? { name } : {}),
    ...(image ? { image, imageName: img!.name, ...(img!.tag ? { imageTag: img!.tag } : {}) } : {}),
    labels,
    ...(k8s ? { k8s } : {}),
    sandbox: labels['io.kubernetes.docker.type'] === 'podsandbox' || labels['io.kubernetes.container.name'] === 'POD',
    env,
  };
}

import type { ContainerMetadata, InspectHint, RuntimeClient } from './metadata.js';
import { k8sIdentity, parseImageRef, RuntimeUnavailableError } from './metadata.js';
import { unixGet } from './http-unix.js';

interface CrioInfo {
  name?: string;
  image?: string;
  labels?: Record<string, string> | null;
  annotations?: Record<string, string> | null;
  crio_annotations?: Record<string, string> | null;
}

/** CRI-O's inspect endpoint on its unix socket: `GET /containers/<id>` (what crictl inspect's info mirrors). */
export class CrioClient implements RuntimeClient {
  readonly runtime = 'cri-o' as const;
  readonly endpoint: string;
  constructor(socketPath: string) {
    this.endpoint = socketPath;
  }

  async inspect(id: string, _hint: InspectHint, signal: AbortSignal): Promise<ContainerMetadata | null> {
    let res;
    try {
      res = await unixGet(this.endpoint, `/containers/${encodeURIComponent(id)}`, signal);
    } catch (e) {
      throw new RuntimeUnavailableError('cri-o', `CRI-O at ${this.endpoint}: ${(e as Error).message}`);
    }
    if (res.status === 404) return null;
    if (res.status !== 200) throw new RuntimeUnavailableError('cri-o', `CRI-O answered ${res.status}: ${res.body.slice(0, 200)}`);
    return crioMetadata(JSON.parse(res.body) as CrioInfo, id);
  }

  close(): void {}
}

export function crioMetadata(j: CrioInfo, id: string): ContainerMetadata {
  const labels = j.labels ?? {};
  const annotations = { ...(j.crio_annotations ?? {}), ...(j.annotations ?? {}) };
  const k8s = k8sIdentity(labels, annotations);
  const img = j.image ? parseImageRef(j.image) : undefined;
  const name = k8s?.containerName ?? j.name;
  return {
    id,
    runtime: 'cri-o',
    ...(name ? { name } : {}),
    ...(j.image ? { image: j.image, imageName: img!.name, ...(img!.tag ? { imageTag: img!.tag } : {}) } : {}),
    labels,
    ...(k8s ? { k8s } : {}),
    sandbox: annotations['io.kubernetes.cri-o.ContainerType'] === 'sandbox' || labels['io.kubernetes.container.name'] === 'POD',
  };
}

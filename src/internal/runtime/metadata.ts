import type { ContainerRuntime } from '../cgroup/recognize.js';

/** What a container runtime knows about one container, normalised across runtimes. */
export interface ContainerMetadata {
  readonly id: string;
  readonly runtime: ContainerRuntime;
  /** The runtime's name for it (docker `Name` without the slash; CRI: the container's name in its pod). */
  readonly name?: string;
  /** The image reference as the runtime reports it (`docker.io/library/nginx:1.25`). */
  readonly image?: string;
  readonly imageName?: string;
  readonly imageTag?: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The kubelet's identity labels (io.kubernetes.*) or, failing those, the CRI plugin's annotations. */
  readonly k8s?: K8sIdentity;
  /** A pod sandbox ("pause") container: no workload runs in it. */
  readonly sandbox: boolean;
  /** containerd namespace the container was found in. */
  readonly namespace?: string;
  /** Environment of the container's process, when the runtime reports it (docker); used for Nomad. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface K8sIdentity {
  readonly podName?: string;
  readonly podNamespace?: string;
  readonly podUid?: string;
  readonly containerName?: string;
  /** The kubelet's `io.kubernetes.container.restartCount` annotation, when the runtime exposes annotations. */
  readonly restartCount?: number;
}

/** Splits an image reference into name and tag: `reg:5000/ns/app:1.2@sha256:…` → (`reg:5000/ns/app`, `1.2`). */
export function parseImageRef(ref: string): { name: string; tag?: string } {
  let r = ref.trim();
  const at = r.indexOf('@');
  const digestOnly = at >= 0;
  if (at >= 0) r = r.slice(0, at);
  if (/^sha256:[0-9a-f]+$/.test(r)) return { name: r };
  const slash = r.lastIndexOf('/');
  const colon = r.lastIndexOf(':');
  if (colon > slash) return { name: r.slice(0, colon), tag: r.slice(colon + 1) };
  return digestOnly ? { name: r } : { name: r, tag: 'latest' };
}

const POD_NAME = 'io.kubernetes.pod.name';
const POD_NS = 'io.kubernetes.pod.namespace';
const POD_UID = 'io.kubernetes.pod.uid';
const CTR_NAME = 'io.kubernetes.container.name';

/** The kubelet's labels first, then the CRI plugins' annotations (containerd's io.kubernetes.cri.*, CRI-O's). */
export function k8sIdentity(labels: Readonly<Record<string, string>>, annotations: Readonly<Record<string, string>> = {}): K8sIdentity | undefined {
  const podName = labels[POD_NAME] ?? annotations['io.kubernetes.cri.sandbox-name'] ?? annotations[POD_NAME];
  const podNamespace = labels[POD_NS] ?? annotations['io.kubernetes.cri.sandbox-namespace'] ?? annotations[POD_NS];
  const podUid = labels[POD_UID] ?? annotations['io.kubernetes.cri.sandbox-uid'] ?? annotations[POD_UID];
  const containerName = labels[CTR_NAME] ?? annotations['io.kubernetes.cri.container-name'] ?? annotations[CTR_NAME];
  const rc = annotations['io.kubernetes.container.restartCount'] ?? labels['io.kubernetes.container.restartCount'];
  if (podName === undefined && podNamespace === undefined && podUid === undefined) return undefined;
  return {
    ...(podName !== undefined ? { podName } : {}),
    ...(podNamespace !== undefined ? { podNamespace } : {}),
    ...(podUid !== undefined ? { podUid } : {}),
    ...(containerName !== undefined && containerName !== 'POD' ? { containerName } : {}),
    ...(rc !== undefined && /^\d+$/.test(rc) ? { restartCount: Number(rc) } : {}),
  };
}

/** Error meaning "this runtime cannot be asked right now" (socket missing, refused, timed out). */
export class RuntimeUnavailableError extends Error {
  readonly runtime: ContainerRuntime;
  constructor(runtime: ContainerRuntime, message: string) {
    super(message);
    this.name = 'RuntimeUnavailableError';
    this.runtime = runtime;
  }
}

export interface InspectHint {
  /** containerd namespace from the cgroup path. */
  readonly namespace?: string;
}

/** One runtime's API. `inspect` resolves null when the runtime does not know the id. */
export interface RuntimeClient {
  readonly runtime: ContainerRuntime;
  readonly endpoint: string;
  inspect(id: string, hint: InspectHint, signal: AbortSignal): Promise<ContainerMetadata | null>;
  close(): void;
}

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type { ContainerdContainer } from './containerd-proto.js';
import { CONTAINERD_PROTO } from './containerd-proto.js';
import type { ContainerMetadata, InspectHint, RuntimeClient } from './metadata.js';
import { k8sIdentity, parseImageRef, RuntimeUnavailableError } from './metadata.js';

const LOADER_OPTS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;
interface ContainersStub extends grpc.Client {
  Get: Unary<{ id: string }, { container: ContainerdContainer }>;
  List: Unary<{ filters: string[] }, { containers: ContainerdContainer[] }>;
}

let definition: grpc.GrpcObject | undefined;
/** The containers.v1 package as a grpc-js object (servers in tests use it too). */
export function containerdGrpcObject(): grpc.GrpcObject {
  if (!definition) {
    const root = protobuf.parse(CONTAINERD_PROTO, { keepCase: true }).root;
    definition = grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), LOADER_OPTS));
  }
  return definition;
}

export function containersService(): grpc.ServiceClientConstructor {
  const pkg = containerdGrpcObject() as unknown as { containerd: { services: { containers: { v1: { Containers: grpc.ServiceClientConstructor } } } } };
  return pkg.containerd.services.containers.v1.Containers;
}

/** The OCI runtime spec stored in the container record (JSON bytes in an Any). */
interface OciSpec {
  annotations?: Record<string, string>;
  process?: { env?: string[] };
}

/**
 * containerd's native API over gRPC (`containers.v1.Containers/Get`, namespace in the `containerd-namespace`
 * metadata). A container id is looked up in the namespace the cgroup path named, else in each configured
 * namespace in order (`k8s.io` first: that is where the CRI plugin keeps Kubernetes containers).
 */
export class ContainerdClient implements RuntimeClient {
  readonly runtime = 'containerd' as const;
  readonly endpoint: string;
  readonly namespaces: readonly string[];
  readonly #stub: ContainersStub;

  constructor(socketPath: string, namespaces: readonly string[]) {
    this.endpoint = socketPath;
    this.namespaces = namespaces;
    const Ctor = containersService();
    this.#stub = new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
      'grpc.enable_retries': 0,
    }) as unknown as ContainersStub;
  }

  async inspect(id: string, hint: InspectHint, signal: AbortSignal): Promise<ContainerMetadata | null> {
    const order = hint.namespace ? [hint.namespace, ...this.namespaces.filter((n) => n !== hint.namespace)] : this.namespaces;
    for (const ns of order) {
      const c = await this.#get(ns, id, signal);
      if (c) return containerdMetadata(c, ns);
    }
    return null;
  }

  /** All containers of a namespace (filters use containerd's filter syntax, e.g. `labels."k"==v`). */
  list(namespace: string, filters: string[], signal: AbortSignal): Promise<ContainerdContainer[]> {
    return new Promise((resolve, reject) => {
      const md = new grpc.Metadata();
      md.set('containerd-namespace', namespace);
      const call = this.#stub.List({ filters }, md, { deadline: Date.now() + 10_000 }, (err, res) => {
        signal.removeEventListener('abort', onAbort);
        if (err) reject(new RuntimeUnavailableError('containerd', `containerd List: ${err.message}`));
        else resolve(res?.containers ?? []);
      });
      const onAbort = () => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #get(namespace: string, id: string, signal: AbortSignal): Promise<ContainerdContainer | null> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new RuntimeUnavailableError('containerd', 'aborted'));
        return;
      }
      const md = new grpc.Metadata();
      md.set('containerd-namespace', namespace);
      const call = this.#stub.Get({ id }, md, {}, (err, res) => {
        signal.removeEventListener('abort', onAbort);
        if (!err) resolve(res?.container ?? null);
        else if (err.code === grpc.status.NOT_FOUND) resolve(null);
        else reject(new RuntimeUnavailableError('containerd', `containerd at ${this.endpoint}: ${err.details || err.message}`));
      });
      const onAbort = () => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    this.#stub.close();
  }
}

export function containerdMetadata(c: ContainerdContainer, namespace: string): ContainerMetadata {
  const labels = c.labels ?? {};
  let spec: OciSpec = {};
  if (c.spec?.value && c.spec.value.length > 0 && c.spec.value.length < (4 << 20)) {
    try {
      spec = JSON.parse(Buffer.from(c.spec.value).toString('utf8')) as OciSpec;
    } catch {
      spec = {};
    }
  }
  const annotations = spec.annotations ?? {};
  const k8s = k8sIdentity(labels, annotations);
  const img = c.image ? parseImageRef(c.image) : undefined;
  const env: Record<string, string> = {};
  for (const kv of spec.process?.env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const name = k8s?.containerName ?? labels['nerdctl/name'] ?? c.id;
  return {
    id: c.id,
    runtime: 'containerd',
    name,
    ...(c.image ? { image: c.image, imageName: img!.name, ...(img!.tag ? { imageTag: img!.tag } : {}) } : {}),
    labels,
    ...(k8s ? { k8s } : {}),
    sandbox: labels['io.cri-containerd.kind'] === 'sandbox' || annotations['io.kubernetes.cri.container-type'] === 'sandbox',
    namespace,
    env,
  };
}

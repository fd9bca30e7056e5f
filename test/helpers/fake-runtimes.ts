// Fake container-runtime APIs on unix sockets in a temp dir, for component tests: Docker Engine API and
// CRI-O inspect (HTTP), containerd (gRPC, served from the same hand-written proto the client uses).
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { ContainerdContainer } from '../../src/internal/runtime/index.js';
import { containersService } from '../../src/internal/runtime/index.js';

export interface FakeHttpRuntime {
  readonly socket: string;
  /** Requests seen (paths). */
  readonly requests: string[];
  close(): Promise<void>;
}

/** Serves `GET <prefix><id>[/json]` from `containers` (id → JSON body); 404 otherwise. */
export async function fakeHttpRuntime(socket: string, kind: 'docker' | 'crio', containers: Map<string, unknown>): Promise<FakeHttpRuntime> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const m = kind === 'docker' ? /^\/containers\/([^/]+)\/json$/.exec(req.url ?? '') : /^\/containers\/([^/]+)$/.exec(req.url ?? '');
    const body = m ? containers.get(decodeURIComponent(m[1])) : undefined;
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'No such container' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, resolve);
  });
  return { socket, requests, close: () => new Promise((r) => server.close(() => r())) };
}

export interface FakeContainerd {
  readonly socket: string;
  readonly calls: Array<{ namespace: string; id: string }>;
  close(): Promise<void>;
}

/** containerd's Containers service: `byNs` maps namespace → id → container record. */
export async function fakeContainerd(socket: string, byNs: Map<string, Map<string, ContainerdContainer>>): Promise<FakeContainerd> {
  const calls: Array<{ namespace: string; id: string }> = [];
  const server = new grpc.Server();
  server.addService(containersService().service, {
    Get: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const ns = String(call.metadata.get('containerd-namespace')[0] ?? '');
      calls.push({ namespace: ns, id: call.request.id });
      const c = byNs.get(ns)?.get(call.request.id);
      if (!c) cb({ code: grpc.status.NOT_FOUND, details: `container "${call.request.id}" in namespace "${ns}": not found` });
      else cb(null, { container: c });
    },
    List: (call: grpc.ServerUnaryCall<{ filters: string[] }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const ns = String(call.metadata.get('containerd-namespace')[0] ?? '');
      cb(null, { containers: [...(byNs.get(ns)?.values() ?? [])] });
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return { socket, calls, close: () => new Promise((r) => server.tryShutdown(() => r())) };
}

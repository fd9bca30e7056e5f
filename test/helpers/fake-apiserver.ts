// A small Kubernetes API server that replays recorded responses over HTTPS (self-signed CA made with
// openssl), with bearer-token auth: LIST of pods, WATCH streams (chunked JSON lines, optionally held
// open), HTTP 410 for expired resourceVersions, and enough discovery (/api, /apis, /api/v1, /version) for
// kubectl to list through it.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';

export type Step =
  | { kind: 'list'; body: unknown }
  | { kind: 'watch'; lines: string[]; end: 'close' | 'hold'; delayMs?: number }
  | { kind: 'status'; code: number; body: unknown };

export interface RecordedRequest {
  readonly path: string;
  readonly query: URLSearchParams;
  readonly auth: string;
  readonly kind: 'list' | 'watch' | 'other';
}

export interface FakeApiServer {
  readonly url: string;
  readonly port: number;
  readonly caFile: string;
  readonly caPem: string;
  readonly token: string;
  readonly requests: RecordedRequest[];
  /** Responses for /api/v1/pods, consumed in order; when empty, watches are held open and lists repeat the last. */
  readonly script: Step[];
  close(): Promise<void>;
}

/** A CA and a server certificate for 127.0.0.1 (openssl CLI). */
export function makeCerts(dir: string): { ca: string; caKey: string; cert: string; key: string } {
  const f = (n: string) => join(dir, n);
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=sonde-test-ca']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=kube-apiserver']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.crt'), caKey: f('ca.key'), cert: f('server.crt'), key: f('server.key') };
}

export async function startFakeApiServer(dir: string, token: string): Promise<FakeApiServer> {
  const certs = makeCerts(dir);
  const requests: RecordedRequest[] = [];
  const script: Step[] = [];
  const held = new Set<ServerResponse>();
  let lastList: unknown = { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] };
  let port = 0;

  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'https://127.0.0.1');
    const auth = req.headers.authorization ?? '';
    const watch = u.searchParams.get('watch') === '1' || u.searchParams.get('watch') === 'true';
    requests.push({ path: u.pathname, query: u.searchParams, auth, kind: u.pathname === '/api/v1/pods' ? (watch ? 'watch' : 'list') : 'other' });
    if (auth !== `Bearer ${token}`) {
      json(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
      return;
    }
    switch (u.pathname) {
      case '/version':
        return json(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-sonde-replay', platform: 'linux/amd64' });
      case '/api':
        return json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }] });
      case '/apis':
        return json(res, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: [] });
      case '/api/v1':
        return json(res, 200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'watch'], shortNames: ['po'] }] });
      case '/api/v1/pods':
        break;
      default:
        return json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'not recorded', reason: 'NotFound', code: 404 });
    }
    const next = script[0];
    if (!watch) {
      if (next?.kind === 'list') {
        script.shift();
        lastList = next.body;
      }
      return json(res, 200, lastList);
    }
    if (next?.kind === 'status') {
      script.shift();
      return json(res, next.code, next.body);
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (next?.kind !== 'watch') {
      held.add(res);
      res.once('close', () => held.delete(res));
      return;
    }
    script.shift();
    let i = 0;
    const send = () => {
      if (i < next.lines.length) {
        res.write(`${next.lines[i++]}\n`);
        setTimeout(send, next.delayMs ?? 5);
        return;
      }
      if (next.end === 'close') res.end();
      else {
        held.add(res);
        res.once('close', () => held.delete(res));
      }
    };
    send();
  };
  const server: Server = createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`, port, caFile: certs.ca, caPem: readFileSync(certs.ca, 'utf8'), token, requests, script,
    close: () => new Promise<void>((resolve) => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

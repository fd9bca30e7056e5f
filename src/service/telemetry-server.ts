import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../config/schema.js';
import type { SelfTelemetry } from './telemetry.js';

export interface Health {
  live: boolean;
  ready: boolean;
  components: Array<{ component: string; status: string; error?: string }>;
}

/** Serves `/metrics` (self-telemetry, Prometheus text), `/healthz` (liveness) and `/readyz` (readiness). */
export class TelemetryServer {
  readonly #endpoint: string;
  readonly #telemetry: SelfTelemetry;
  readonly #health: () => Health;
  #server?: Server;

  constructor(endpoint: string, telemetry: SelfTelemetry, health: () => Health) {
    this.#endpoint = endpoint;
    this.#telemetry = telemetry;
    this.#health = health;
  }

  get address(): string | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined;
    if (!a) return undefined;
    return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  }

  async start(): Promise<void> {
    const { host, port } = splitHostPort(this.#endpoint);
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      if (path === '/metrics') {
        const body = this.#telemetry.render();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
      } else if (path === '/healthz' || path === '/readyz') {
        const h = this.#health();
        const ok = path === '/healthz' ? h.live : h.ready;
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', components: h.components }));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      }
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        reject(new Error(`self-telemetry cannot listen on ${this.#endpoint}: ${e.code === 'EADDRINUSE' ? 'address already in use (set service.telemetry.metrics.address)' : e.message}`));
      });
      server.listen(port, host || undefined, () => resolve());
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

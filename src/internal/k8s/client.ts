import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ClusterConfig } from './config.js';

/** An HTTP error from the API server, with its status and (when JSON) its Status object's reason. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason?: string;
  constructor(status: number, body: string) {
    let reason: string | undefined;
    let message = body.slice(0, 300);
    try {
      const j = JSON.parse(body) as { reason?: string; message?: string };
      reason = j.reason;
      message = j.message ?? message;
    } catch { /* not JSON */ }
    super(`kubernetes API ${status}${reason ? ` ${reason}` : ''}: ${message}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

export interface WatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  readonly object: T;
}

/**
 * A minimal Kubernetes API client: GET with JSON decoding, and watch streams (one JSON event per line).
 * Bearer token (re-read from its file on each request) or client certificate; the cluster CA or, when
 * configured, no verification.
 */
export class KubeClient {
  readonly config: ClusterConfig;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #https: boolean;

  constructor(config: ClusterConfig) {
    this.config = config;
    this.#https = config.server.startsWith('https:');
    this.#agent = this.#https
      ? new HttpsAgent({ keepAlive: true, ca: config.ca, cert: config.cert, key: config.key, rejectUnauthorized: !config.insecureSkipTlsVerify })
      : new HttpAgent({ keepAlive: true });
  }

  #headers(): Record<string, string> {
    const h: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'sonde' };
    const token = this.config.tokenFile ? readFileSync(this.config.tokenFile, 'utf8').trim() : this.config.token;
    if (token) h.Authorization = `Bearer ${token}`;
    return h;
  }

  #open(path: string, signal: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(this.config.server + path);
    const req = (this.#https ? httpsRequest : httpRequest)(url, { method: 'GET', agent: this.#agent, headers: this.#headers(), signal });
    return new Promise((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
      req.end();
    });
  }

  async get<T>(path: string, signal: AbortSignal): Promise<T> {
    const res = await this.#open(path, signal);
    const body = await readBody(res);
    if (res.statusCode !== 200) throw new KubeApiError(res.statusCode ?? 0, body);
    return JSON.parse(body) as T;
  }

  /**
   * Streams watch events to `onEvent` until the server ends the stream (resolves) or it fails (rejects;
   * an HTTP 410 on the request itself rejects with KubeApiError status 410).
   */
  async watch<T>(path: string, signal: AbortSignal, onEvent: (e: WatchEvent<T>) => void): Promise<void> {
    const res = await this.#open(path, signal);
    if (res.statusCode !== 200) throw new KubeApiError(res.statusCode ?? 0, await readBody(res));
    res.setEncoding('utf8');
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch (e) {
            res.destroy(e as Error);
            return;
          }
        }
      });
      res.once('end', resolve);
      res.once('error', reject);
      res.once('aborted', () => reject(new Error('watch aborted')));
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.once('error', reject);
  });
}

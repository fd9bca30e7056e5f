/**
 * A small HTTP(S) POST client shared by the otlphttp and prometheusremotewrite exporters: keep-alive
 * connections (one per consumer), TLS from the `tls` section, gzip, AbortSignal cancellation, bounded
 * response bodies. It never classifies HTTP statuses: each exporter has its protocol's rules.
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkServerIdentity } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import { RetryableError } from '../consumer/errors.js';
import type { TlsConfig } from '../helpers/exporter-config.js';

const gzip = promisify(gzipCb);
const MAX_RESPONSE_BODY = 4 * 1024 * 1024;

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpSenderOptions {
  readonly tls: TlsConfig;
  readonly maxSockets: number;
  readonly userAgent: string;
}

export class HttpSender {
  readonly #opts: HttpSenderOptions;
  #agent?: HttpAgent | HttpsAgent;

  constructor(opts: HttpSenderOptions) {
    this.#opts = opts;
  }

  /** Reads the TLS files and builds the connection pool for `url`'s scheme. Throws with a clear message. */
  async init(url: string): Promise<void> {
    const tls = this.#opts.tls;
    if (new URL(url).protocol === 'https:') {
      const read = async (what: string, f: string) => {
        if (!f) return undefined;
        try {
          return await readFile(f);
        } catch (e) {
          throw new Error(`cannot read tls.${what} ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      };
      this.#agent = new HttpsAgent({
        keepAlive: true,
        maxSockets: this.#opts.maxSockets,
        ca: await read('ca_file', tls.ca_file),
        cert: await read('cert_file', tls.cert_file),
        key: await read('key_file', tls.key_file),
        rejectUnauthorized: !tls.insecure_skip_verify,
        ...(tls.server_name_override ? { servername: tls.server_name_override, checkServerIdentity: (_h: string, cert: PeerCertificate) => checkServerIdentity(tls.server_name_override, cert) } : {}),
      });
    } else {
      this.#agent = new HttpAgent({ keepAlive: true, maxSockets: this.#opts.maxSockets });
    }
  }

  /**
   * POSTs `body`. Resolves with any HTTP response; rejects with a RetryableError for network failures
   * (refused, reset, DNS, aborted by `signal`), which the exporter helper retries.
   */
  async post(url: string, body: Buffer, headers: OutgoingHttpHeaders, signal: AbortSignal, compress = false): Promise<HttpResponse> {
    if (!this.#agent) await this.init(url);
    const payload = compress ? await gzip(body) : body;
    const u = new URL(url);
    const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<HttpResponse>((resolve, reject) => {
      const r = req(u, {
        method: 'POST',
        agent: this.#agent,
        signal,
        headers: {
          'user-agent': this.#opts.userAgent,
          ...headers,
          ...(compress ? { 'content-encoding': 'gzip' } : {}),
          'content-length': payload.length,
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_RESPONSE_BODY) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (e) => reject(new RetryableError(`HTTP response from ${u.host} failed: ${e.message}`, { cause: e })));
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        reject(new RetryableError(`HTTP POST ${u.host}${u.pathname} failed: ${e.code ?? e.message}`, { cause: e }));
      });
      r.end(payload);
    });
  }

  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
  }
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date); undefined when absent or unparseable. */
export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s.trim() === '') return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** A short, single-line excerpt of a response body for error messages. */
export function bodyExcerpt(b: Buffer, max = 256): string {
  const text = b.subarray(0, max).toString('utf8').replace(/\s+/g, ' ').trim();
  return b.length > max ? `${text}…` : text;
}

import { request } from 'node:http';

export interface UnixHttpResponse {
  readonly status: number;
  readonly body: string;
}

/** One GET over a unix socket (Docker Engine API, CRI-O's inspect endpoint). Bodies are capped at 8 MiB. */
export function unixGet(socketPath: string, path: string, signal: AbortSignal): Promise<UnixHttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', headers: { Host: 'localhost', Accept: 'application/json' }, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 8 << 20) {
          req.destroy(new Error('response too large'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

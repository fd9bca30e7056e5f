// Prometheus 2.42 (Debian) as a remote-write receiver on a temp TSDB, restartable on the same port
// (the TSDB/WAL in `dir` survives halt()/restart()).
// Feature flags: native histograms (without it a histogram in a write request makes the WHOLE
// request fail with HTTP 500) and exemplar storage (without it exemplars are silently dropped).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOOPBACK, freePort, httpGet } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';

export interface PrometheusOptions {
  /** Default ['exemplar-storage', 'native-histograms']. */
  features?: string[];
  /** Extra command-line flags. */
  args?: string[];
}

/** One series of an instant query. Native histograms come back in `histogram` (raw API shape). */
export interface PromInstantSample {
  metric: Record<string, string>;
  /** Seconds since the epoch (float). */
  timestamp: number;
  value: number;
  histogram?: unknown;
}

export interface PromRangeSeries {
  metric: Record<string, string>;
  values: Array<{ timestamp: number; value: number }>;
  histograms?: unknown[];
}

export interface PrometheusPeer extends RestartablePeer {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** http://127.0.0.1:PORT/api/v1/write */
  readonly remoteWriteUrl: string;
  /** GET /api/v1/query; scalars come back as one sample with an empty metric. */
  query(expr: string, time?: Date | number): Promise<PromInstantSample[]>;
  /** GET /api/v1/query_range; start/end as Date or epoch ms, step in seconds. */
  queryRange(expr: string, start: Date | number, end: Date | number, stepSeconds: number): Promise<PromRangeSeries[]>;
  /** Any other GET API, e.g. api('/api/v1/query_exemplars', { query: 'x', start, end }) -> `data`. */
  api(path: string, params?: Record<string, string>): Promise<unknown>;
}

interface PromResponse { status: string; data?: unknown; errorType?: string; error?: string }

const seconds = (t: Date | number): string => String((t instanceof Date ? t.getTime() : t) / 1000);

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusPeer> {
  let port = 0;
  const server = await startServer('prometheus', async (dir) => {
    port = await freePort();
    const conf = join(dir, 'prometheus.yml');
    writeFileSync(conf, 'global: { scrape_interval: 15s }\nscrape_configs: []\n');
    const features = opts.features ?? ['exemplar-storage', 'native-histograms'];
    return {
      spawn: () => ({
        cmd: 'prometheus',
        args: [`--config.file=${conf}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${LOOPBACK}:${port}`,
          '--web.enable-remote-write-receiver', ...(features.length > 0 ? [`--enable-feature=${features.join(',')}`] : []),
          '--log.level=warn', ...(opts.args ?? [])],
      }),
      ready: async () => (await httpGet(`http://${LOOPBACK}:${port}/-/ready`)).status === 200,
    };
  });
  const url = `http://${LOOPBACK}:${port}`;

  async function api(path: string, params: Record<string, string> = {}): Promise<unknown> {
    const res = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
    const body = await res.json() as PromResponse;
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${res.status} ${body.errorType ?? ''}: ${body.error ?? ''}`);
    return body.data;
  }

  async function query(expr: string, time?: Date | number): Promise<PromInstantSample[]> {
    const data = await api('/api/v1/query', { query: expr, ...(time !== undefined ? { time: seconds(time) } : {}) }) as
      { resultType: string; result: unknown };
    if (data.resultType === 'scalar' || data.resultType === 'string') {
      const [t, v] = data.result as [number, string];
      return [{ metric: {}, timestamp: t, value: Number(v) }];
    }
    const rows = data.result as Array<{ metric: Record<string, string>; value?: [number, string]; histogram?: [number, unknown] }>;
    return rows.map((r) => r.histogram !== undefined
      ? { metric: r.metric, timestamp: r.histogram[0], value: NaN, histogram: r.histogram[1] }
      : { metric: r.metric, timestamp: r.value?.[0] ?? NaN, value: Number(r.value?.[1]) });
  }

  async function queryRange(expr: string, start: Date | number, end: Date | number, stepSeconds: number): Promise<PromRangeSeries[]> {
    const data = await api('/api/v1/query_range', { query: expr, start: seconds(start), end: seconds(end), step: String(stepSeconds) }) as
      { result: Array<{ metric: Record<string, string>; values?: Array<[number, string]>; histograms?: Array<[number, unknown]> }> };
    return data.result.map((r) => ({
      metric: r.metric,
      values: (r.values ?? []).map(([t, v]) => ({ timestamp: t, value: Number(v) })),
      ...(r.histograms !== undefined ? { histograms: r.histograms } : {}),
    }));
  }

  return Object.assign(server.handle(), { port, url, remoteWriteUrl: `${url}/api/v1/write`, query, queryRange, api });
}

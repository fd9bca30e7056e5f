// A real OpenTelemetry Collector (core `otlp` receiver + contrib `file` exporter, v0.161.0), built
// from the Go module in test/peers/otelcol/ and cached outside the repo, keyed by a hash of
// go.mod + go.sum + main.go + the Go version. Each signal goes to its own OTLP-JSON-lines file.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LOOPBACK, freePort, pollUntil, tcpConnects } from './proc.js';
import type { RestartablePeer } from './proc.js';
import { startServer } from './server.js';
import { flattenLogs, flattenMetrics, flattenSpans } from './otlp-json.js';
import type { FlatLogRecord, FlatMetric, FlatSpan, OtlpLogsData, OtlpMetricsData, OtlpTracesData } from './otlp-json.js';

const execFile = promisify(execFileCb);

/** The collector's Go sources: test/peers/otelcol/ of the repo this file (or its compiled copy in dist/) lives in. */
export function otelcolSourceDir(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); d !== dirname(d); d = dirname(d)) {
    const candidate = join(d, 'test', 'peers', 'otelcol');
    if (existsSync(join(candidate, 'go.mod'))) return candidate;
  }
  throw new Error('otelcol: cannot find test/peers/otelcol/go.mod above ' + fileURLToPath(import.meta.url));
}

function goBinary(): string {
  if (process.env.GO !== undefined && process.env.GO !== '') return process.env.GO;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'go'))) return join(dir, 'go');
  }
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('otelcol: no `go` in PATH or /usr/local/go/bin (set $GO)');
}

export interface OtelcolBuild {
  binary: string;
  /** False when the cached binary was reused. */
  built: boolean;
  ms: number;
}

/**
 * Return the cached collector binary, building it first if this manifest + Go version has not been
 * built yet: `${XDG_CACHE_HOME:-~/.cache}/sonde/otelcol-<hash>/otelcol`. A cold build (module
 * download + compile) takes about a minute on 2 cores; a cache hit is a few ms plus `go env`.
 */
export async function buildOtelcol(): Promise<OtelcolBuild> {
  const t0 = Date.now();
  const src = otelcolSourceDir();
  const go = goBinary();
  const goEnv = execFileSync(go, ['env', 'GOVERSION', 'GOOS', 'GOARCH'], { encoding: 'utf8' }).trim();
  const hash = createHash('sha256');
  for (const f of ['go.mod', 'go.sum', 'main.go']) hash.update(`${f}\0`).update(readFileSync(join(src, f))).update('\0');
  hash.update(goEnv);
  const cacheRoot = process.env.XDG_CACHE_HOME !== undefined && process.env.XDG_CACHE_HOME !== '' ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache');
  const outDir = join(cacheRoot, 'sonde', `otelcol-${hash.digest('hex').slice(0, 16)}`);
  const binary = join(outDir, 'otelcol');
  if (existsSync(binary)) return { binary, built: false, ms: Date.now() - t0 };
  mkdirSync(outDir, { recursive: true });
  const tmp = `${binary}.tmp-${process.pid}`;
  try {
    await execFile(go, ['build', '-trimpath', '-buildvcs=false', '-mod=readonly', '-o', tmp, '.'], {
      cwd: src, maxBuffer: 64 << 20, timeout: 20 * 60_000,
    });
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`otelcol: go build failed in ${src}: ${err.message}\n${err.stderr ?? ''}`);
  }
  renameSync(tmp, binary); // atomic: concurrent builders both end with a complete binary
  return { binary, built: true, ms: Date.now() - t0 };
}

export interface OtelcolOptions {
  /** File exporter flush interval (default 100 ms; the exporter's own default is 1 s). */
  flushIntervalMs?: number;
  /** Edit the generated collector config (a plain object, written as JSON) before it is written. */
  configure?: (config: Record<string, unknown>) => void;
}

export interface OtelcolPeer extends RestartablePeer {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** http://127.0.0.1:GRPC_PORT: the `url` for @opentelemetry/exporter-*-otlp-grpc. */
  readonly grpcUrl: string;
  /** http://127.0.0.1:HTTP_PORT: append /v1/traces, /v1/metrics, /v1/logs for OTLP/HTTP. */
  readonly httpUrl: string;
  readonly binary: string;
  readonly files: { traces: string; metrics: string; logs: string };
  /** Every export request received so far (one parsed JSON line each). */
  traces(): OtlpTracesData[];
  metrics(): OtlpMetricsData[];
  logs(): OtlpLogsData[];
  spans(): FlatSpan[];
  metricList(): FlatMetric[];
  logRecords(): FlatLogRecord[];
  /** Poll the files until `pick` returns a value (default timeout 10 s). */
  waitFor<T>(what: string, pick: (c: OtelcolPeer) => T | undefined | false, timeoutMs?: number): Promise<T>;
}

/** Parse complete lines only: the exporter may be mid-write. */
function readJsonLines<T>(file: string): T[] {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  const end = text.lastIndexOf('\n');
  if (end < 0) return [];
  return text.slice(0, end).split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

export async function startOtelcol(opts: OtelcolOptions = {}): Promise<OtelcolPeer> {
  const { binary } = await buildOtelcol();
  let grpcPort = 0;
  let httpPort = 0;
  let files = { traces: '', metrics: '', logs: '' };
  const server = await startServer('otelcol', async (dir) => {
    grpcPort = await freePort();
    httpPort = await freePort();
    files = { traces: join(dir, 'traces.jsonl'), metrics: join(dir, 'metrics.jsonl'), logs: join(dir, 'logs.jsonl') };
    const flush = `${opts.flushIntervalMs ?? 100}ms`;
    // append: true, or the exporter truncates its file on every (re)start.
    const fileExporter = (path: string): Record<string, unknown> => ({ path, format: 'json', append: true, flush_interval: flush });
    const config: Record<string, unknown> = {
      receivers: {
        otlp: { protocols: { grpc: { endpoint: `${LOOPBACK}:${grpcPort}` }, http: { endpoint: `${LOOPBACK}:${httpPort}` } } },
      },
      exporters: {
        'file/traces': fileExporter(files.traces),
        'file/metrics': fileExporter(files.metrics),
        'file/logs': fileExporter(files.logs),
      },
      service: {
        // level none: no internal metrics endpoint (it would listen on :8888).
        telemetry: { metrics: { level: 'none' }, logs: { level: 'info', encoding: 'console' } },
        pipelines: {
          traces: { receivers: ['otlp'], exporters: ['file/traces'] },
          metrics: { receivers: ['otlp'], exporters: ['file/metrics'] },
          logs: { receivers: ['otlp'], exporters: ['file/logs'] },
        },
      },
    };
    opts.configure?.(config);
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, JSON.stringify(config, null, 2)); // JSON is YAML
    return {
      spawn: () => ({ cmd: binary, args: [`--config=${configFile}`], cwd: dir }),
      // An empty OTLP/HTTP export answers 200 once the receiver (started after the exporters) is up.
      ready: async () => {
        const res = await fetch(`http://${LOOPBACK}:${httpPort}/v1/traces`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
        });
        await res.arrayBuffer();
        return res.status === 200 && await tcpConnects(grpcPort);
      },
    };
  });
  const peer: OtelcolPeer = Object.assign(server.handle(), {
    grpcPort,
    httpPort,
    grpcUrl: `http://${LOOPBACK}:${grpcPort}`,
    httpUrl: `http://${LOOPBACK}:${httpPort}`,
    binary,
    files,
    traces: () => readJsonLines<OtlpTracesData>(files.traces),
    metrics: () => readJsonLines<OtlpMetricsData>(files.metrics),
    logs: () => readJsonLines<OtlpLogsData>(files.logs),
    spans: () => flattenSpans(peer.traces()),
    metricList: () => flattenMetrics(peer.metrics()),
    logRecords: () => flattenLogs(peer.logs()),
    waitFor: <T>(what: string, pick: (c: OtelcolPeer) => T | undefined | false, timeoutMs?: number) =>
      pollUntil(what, () => pick(peer), timeoutMs),
  });
  return peer;
}

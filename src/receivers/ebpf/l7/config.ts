import type { Infer } from '../../../config/schema.js';
import { s } from '../../../config/schema.js';
import type { HostInfo } from '../../../internal/host-info.js';
import type { WallClock } from './clock.js';
import type { L7PipelineOptions } from './pipeline.js';

/**
 * The `l7` section of the ebpf receiver's config (the receiver embeds this schema): parsing privacy, limits,
 * linking and metric naming. Durations are milliseconds (the schema accepts `2s`, `500ms`, …).
 */
export const l7ConfigSchema = s.object({
  spans: s.bool().describe('Emit a span per request (false: request metrics only; nothing is held for linking).'),
  metrics_naming: s.enum(['coroot', 'otel']).describe('`coroot`: container_http_requests_total & co. for Prometheus/Coroot; `otel`: semconv histograms (http.server.request.duration, …).'),
  keep_query_string: s.bool().describe('Keep URL query strings in url.query (dropped by default: they often carry tokens).'),
  keep_sql_literals: s.bool().describe('Keep SQL literals in db.query.text instead of replacing them with `?`.'),
  record_keys: s.bool().describe('Record Redis/Memcached keys (values are never recorded).'),
  max_buffered_bytes: s.size().describe('Per-connection cap on bytes buffered for a message head split across chunks.'),
  request_timeout: s.duration(1).describe('A request with no response after this long is emitted as incomplete.'),
  link_window: s.duration(0).describe('How long a finished request waits for the requests it may belong to (parents end later).'),
  link_max_buffered: s.int({ min: 1 }).describe('Cap on requests held for linking; beyond it the oldest are emitted early.'),
  thread_ambiguity: s.enum(['skip', 'latest']).describe('When several inbound requests of one thread contain an outbound call: link none (`skip`) or the latest started.'),
  derive_ids: s.bool().describe('Derive trace/span ids from connection 4-tuples so Sonde agents on both ends of a connection agree.'),
  route_cap: s.int({ min: 1 }).describe('Distinct URL path templates per service before `{overflow}`.'),
  max_connections: s.int({ min: 1 }).describe('Connections tracked at once (the oldest is dropped beyond it).'),
});

export type L7Config = Infer<typeof l7ConfigSchema>;

export function createDefaultL7Config(): L7Config {
  return {
    spans: true,
    metrics_naming: 'coroot',
    keep_query_string: false,
    keep_sql_literals: false,
    record_keys: false,
    max_buffered_bytes: 16 * 1024,
    request_timeout: 60_000,
    link_window: 2_000,
    link_max_buffered: 100_000,
    thread_ambiguity: 'skip',
    derive_ids: true,
    route_cap: 200,
    max_connections: 65_536,
  };
}

/** Options for `new L7Pipeline(...)` from the config. */
export function l7PipelineOptions(cfg: L7Config, host: Pick<HostInfo, 'hostname' | 'machineId' | 'arch'>, clock?: WallClock): L7PipelineOptions {
  return {
    host,
    clock,
    spans: cfg.spans,
    parser: {
      keepQueryString: cfg.keep_query_string,
      keepSqlLiterals: cfg.keep_sql_literals,
      recordKeys: cfg.record_keys,
      maxBufferedBytes: cfg.max_buffered_bytes,
      requestTimeoutNs: cfg.request_timeout * 1e6,
    },
    link: {
      windowNs: cfg.link_window * 1e6,
      maxBuffered: cfg.link_max_buffered,
      threadAmbiguity: cfg.thread_ambiguity,
      deriveIds: cfg.derive_ids,
    },
    metrics: { naming: cfg.metrics_naming },
    routeCap: cfg.route_cap,
    maxConnections: cfg.max_connections,
  };
}

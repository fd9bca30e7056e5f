/**
 * The SQL of the clickhouse exporter lives in sql/*.sql (DDL and INSERT column lists of the pinned
 * clickhouseexporter schema, see README.md). This file loads and renders them: `{{database}}`, `{{table}}`,
 * `{{on_cluster}}`, `{{engine}}` and the TTL clauses. Identifiers come from config, validated as plain
 * identifiers, and are backquoted here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Signal } from '../../component/component.js';
import type { ClickhouseConfig } from './config.js';

/** The sql/ folder: next to this file in src/, or found from dist/ by walking up to the repo's src/. */
export function sqlDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'sql'))) return join(here, 'sql');
  for (let d = here; d !== dirname(d); d = dirname(d)) {
    const candidate = join(d, 'src', 'exporters', 'clickhouse', 'sql');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`clickhouse exporter: cannot find its sql/ folder above ${here}`);
}

const cache = new Map<string, string>();
function load(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(sqlDir(), `${name}.sql`), 'utf8').replace(/^--.*$/gm, '').trim();
    cache.set(name, text);
  }
  return text;
}

const q = (id: string) => `\`${id.replace(/`/g, '')}\``;

/** TTL clause on a column, in the largest whole unit of the configured duration. */
function ttlClause(column: string, ttlMs: number): string {
  if (ttlMs <= 0) return '';
  const s = Math.max(1, Math.round(ttlMs / 1000));
  const [n, fn] = s % 86400 === 0 ? [s / 86400, 'toIntervalDay'] : s % 3600 === 0 ? [s / 3600, 'toIntervalHour'] : s % 60 === 0 ? [s / 60, 'toIntervalMinute'] : [s, 'toIntervalSecond'];
  return `TTL ${column} + ${fn}(${n})`;
}

export function render(name: string, cfg: ClickhouseConfig, table: string): string {
  const engine = `${cfg.table_engine.name}(${cfg.table_engine.params})`;
  const vars: Record<string, string> = {
    database: q(cfg.database),
    table: q(table),
    on_cluster: cfg.cluster_name ? `ON CLUSTER ${q(cfg.cluster_name)}` : '',
    engine,
    ttl: ttlClause('toDateTime(Timestamp)', cfg.ttl),
    ttl_start: ttlClause('toDateTime(Start)', cfg.ttl),
    ttl_time: ttlClause('TimestampTime', cfg.ttl),
    ttl_metrics: ttlClause('toDateTime(TimeUnix)', cfg.ttl),
  };
  // `{{table}}_suffix` becomes `table_suffix` (one identifier).
  return load(name)
    .replace(/\{\{table\}\}_([A-Za-z0-9_]+)/g, (_m, suffix: string) => q(`${table}_${suffix}`))
    .replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m);
}

export type MetricKind = 'gauge' | 'sum' | 'histogram' | 'exp_histogram' | 'summary';

export function metricTable(cfg: ClickhouseConfig, kind: MetricKind): string {
  const t = cfg.metrics_tables;
  return kind === 'gauge' ? t.gauge.name : kind === 'sum' ? t.sum.name : kind === 'histogram' ? t.histogram.name : kind === 'exp_histogram' ? t.exponential_histogram.name : t.summary.name;
}

/** DDL statements for a signal, in order. */
export function ddlFor(signal: Signal, cfg: ClickhouseConfig): string[] {
  const out = [render('database', cfg, '')];
  if (signal === 'traces') {
    const t = cfg.traces_table_name;
    out.push(render('traces_table', cfg, t), render('traces_id_ts_table', cfg, t), render('traces_id_ts_mv', cfg, t));
  } else if (signal === 'logs') {
    out.push(render('logs_table', cfg, cfg.logs_table_name));
  } else {
    for (const k of ['gauge', 'sum', 'histogram', 'exp_histogram', 'summary'] as const) out.push(render(`metrics_${k}_table`, cfg, metricTable(cfg, k)));
  }
  return out;
}

/**
 * Insert formats: the value of the `format` setting → the ClickHouse format name. `rowbinary` is sent as
 * RowBinaryWithNamesAndTypes (RowBinary rows behind a names-and-types header, see rowbinary.ts).
 */
export const INSERT_FORMATS = { rowbinary: 'RowBinaryWithNamesAndTypes', jsoneachrow: 'JSONEachRow' } as const;
export type InsertFormat = keyof typeof INSERT_FORMATS;

/**
 * INSERT INTO t (columns…) FORMAT <format> for a table kind. The sql/*_insert.sql files hold the column
 * list (the order RowBinary rows are written in) and end with `FORMAT JSONEachRow`, replaced here.
 */
export function insertFor(kind: 'traces' | 'logs' | MetricKind, cfg: ClickhouseConfig, format: InsertFormat = 'jsoneachrow'): string {
  const sql = kind === 'traces' ? render('traces_insert', cfg, cfg.traces_table_name)
    : kind === 'logs' ? render('logs_insert', cfg, cfg.logs_table_name)
      : render(`metrics_${kind}_insert`, cfg, metricTable(cfg, kind));
  return sql.replace(/FORMAT JSONEachRow$/, `FORMAT ${INSERT_FORMATS[format]}`);
}

/** The column names of an INSERT statement from insertFor, in order. */
export function insertColumns(insert: string): string[] {
  return insert.slice(insert.indexOf('(') + 1, insert.lastIndexOf(')')).split(',').map((c) => c.trim().replace(/`/g, ''));
}

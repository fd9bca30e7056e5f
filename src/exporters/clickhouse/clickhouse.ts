import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Component, Host, Signal } from '../../component/component.js';
import type { Settings } from '../../component/factory.js';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { READ_ONLY } from '../../consumer/consumer.js';
import { PermanentError, RetryableError } from '../../consumer/errors.js';
import { ExporterHelper } from '../../helpers/exporter-helper.js';
import type { Request } from '../../helpers/exporter-helper.js';
import type { Logger } from '../../service/logger.js';
import { VERSION } from '../../version.js';
import type { ClickhouseConfig } from './config.js';
import { RowBinaryEncoder, rowBinaryHeader } from './rowbinary.js';
import { logRows, metricRows, traceRows } from './rows.js';
import { INSERT_FORMATS, ddlFor, insertColumns, insertFor } from './schema.js';
import type { InsertFormat, MetricKind } from './schema.js';

/**
 * ClickHouse error codes that mean the data (or the schema) is wrong, so a retry cannot help: parse and
 * type errors, unknown columns/tables, bad settings. Everything else (timeouts, TOO_MANY_PARTS, memory
 * limits, network) is retried, as the Collector's exporter does.
 */
const PERMANENT_CODES = new Set(['6', '16', '26', '27', '32', '38', '41', '53', '62', '69', '70', '72', '115', '117', '130', '131', '190', '497', '516']);
/** UNKNOWN_TABLE, UNKNOWN_DATABASE: the schema went away (or was never created): recreate it and retry. */
const SCHEMA_GONE = new Set(['60', '81']);

function classify(err: unknown): Error {
  const e = err as { code?: string; message?: string; type?: string };
  const msg = `ClickHouse: ${e?.message ?? String(err)}`;
  if (typeof e?.code === 'string' && /^\d+$/.test(e.code)) {
    return PERMANENT_CODES.has(e.code) ? new PermanentError(msg, { cause: err }) : new RetryableError(msg, { cause: err });
  }
  return new RetryableError(msg, { cause: err }); // connection refused/reset, timeouts
}

const NEWLINE = Buffer.from('\n');

type TableKind = 'traces' | 'logs' | MetricKind;

/**
 * Queue key of a payload: the table kind, plus `:rowbinary` for RowBinary. JSONEachRow keeps the bare
 * kind, the key of every payload written before RowBinary existed, so persistent-queue records from
 * older versions (and from a run with the other `format`) are still sent in the format they were
 * encoded in; requests of different formats never merge (different keys).
 */
export function queueKey(kind: TableKind, format: InsertFormat): string {
  return format === 'jsoneachrow' ? kind : `${kind}:${format}`;
}

export function parseQueueKey(key: string): { kind: TableKind; format: InsertFormat } {
  const i = key.indexOf(':');
  if (i < 0) return { kind: key as TableKind, format: 'jsoneachrow' };
  return { kind: key.slice(0, i) as TableKind, format: key.slice(i + 1) as InsertFormat };
}

/**
 * The `clickhouse` exporter for one signal: rows of the clickhouseexporter schema as RowBinary or
 * JSONEachRow (`format`), queued per table (the table kind is the merge key) by the exporter helper and INSERTed with
 * @clickhouse/client. The schema is created on first use (create_schema), so an agent started while
 * ClickHouse is down still starts and queues.
 */
export class ClickhouseExporter implements Component {
  readonly capabilities = READ_ONLY;
  readonly #cfg: ClickhouseConfig;
  readonly #signal: Signal;
  readonly #log: Logger;
  readonly #helper: ExporterHelper;
  #client?: ClickHouseClient;
  #schema?: Promise<void>;
  #rb?: RowBinaryEncoder;

  constructor(set: Settings, cfg: ClickhouseConfig, signal: Signal) {
    this.#cfg = cfg;
    this.#signal = signal;
    this.#log = set.logger;
    this.#helper = new ExporterHelper(set, {
      signal, timeoutMs: cfg.timeout, queue: cfg.sending_queue, retry: cfg.retry_on_failure,
      push: (req, sig) => this.#push(req, sig),
      // JSONEachRow payloads end with a newline and RowBinary rows are queued without their header (sent
      // in front of each request), so payloads of one key (table and format) concatenate into more rows.
      merge: (parts) => Buffer.concat(parts),
    });
  }

  async start(_host: Host): Promise<void> {
    this.#client = createClient({
      url: this.#cfg.endpoint,
      username: this.#cfg.username,
      password: this.#cfg.password,
      // No default database: every statement names its database (and CREATE DATABASE must not need it).
      request_timeout: this.#cfg.timeout,
      compression: { request: this.#cfg.compress === 'gzip', response: false },
      max_open_connections: this.#cfg.sending_queue.num_consumers,
      application: `sonde/${VERSION}`,
      log: { level: ClickHouseLogLevel.OFF }, // failures are classified, counted and logged by the helper
    });
    await this.#helper.start();
  }

  #ensureSchema(signal: AbortSignal): Promise<void> {
    if (!this.#cfg.create_schema) return Promise.resolve();
    this.#schema ??= (async () => {
      for (const sql of ddlFor(this.#signal, this.#cfg)) await this.#client!.command({ query: sql, abort_signal: signal });
      this.#log.info('clickhouse schema ready', { database: this.#cfg.database, signal: this.#signal });
    })().catch((e: unknown) => {
      this.#schema = undefined; // try again with the next request
      throw e;
    });
    return this.#schema;
  }

  async #push(req: Request, signal: AbortSignal): Promise<void> {
    const client = this.#client;
    if (!client) throw new RetryableError('clickhouse exporter not started');
    const { kind, format } = parseQueueKey(req.key);
    if (!Object.hasOwn(INSERT_FORMATS, format)) throw new PermanentError(`clickhouse: queued payload has an unknown format (key "${req.key}")`);
    try {
      await this.#ensureSchema(signal);
      const query = insertFor(kind, this.#cfg, format);
      const res = await client.exec({
        query,
        values: Readable.from(format === 'rowbinary' ? [this.#header(kind, query), req.data] : [req.data]),
        abort_signal: signal,
        clickhouse_settings: this.#cfg.async_insert ? { async_insert: 1, wait_for_async_insert: 1 } : {},
      });
      res.stream.resume();
    } catch (e) {
      if (SCHEMA_GONE.has(String((e as { code?: unknown }).code))) this.#schema = undefined;
      throw classify(e);
    }
  }

  #headers = new Map<TableKind, Buffer>();
  #header(kind: TableKind, insert: string): Buffer {
    let h = this.#headers.get(kind);
    if (!h) {
      h = rowBinaryHeader(kind, insertColumns(insert));
      this.#headers.set(kind, h);
    }
    return h;
  }

  #rows(kind: TableKind, lines: string[], items: number): Request {
    const data = Buffer.concat([Buffer.from(lines.join('\n')), NEWLINE]);
    return { key: queueKey(kind, 'jsoneachrow'), data, items, partition: 0 };
  }

  #encoder(): RowBinaryEncoder | undefined {
    if (this.#cfg.format !== 'rowbinary') return undefined;
    return (this.#rb ??= new RowBinaryEncoder());
  }

  consumeTraces = (td: Traces): Promise<void> => {
    if (!td.length) return this.#helper.enqueue([]);
    const rb = this.#encoder();
    return this.#helper.enqueue([rb ? { key: queueKey('traces', 'rowbinary'), data: rb.traces(td), items: td.length, partition: 0 } : this.#rows('traces', traceRows(td), td.length)]);
  };
  consumeLogs = (ld: Logs): Promise<void> => {
    if (!ld.length) return this.#helper.enqueue([]);
    const rb = this.#encoder();
    return this.#helper.enqueue([rb ? { key: queueKey('logs', 'rowbinary'), data: rb.logs(ld), items: ld.length, partition: 0 } : this.#rows('logs', logRows(ld), ld.length)]);
  };
  consumeMetrics = (md: Metrics): Promise<void> => {
    const reqs: Request[] = [];
    const rb = this.#encoder();
    if (rb) {
      for (const [kind, { data, items }] of rb.metrics(md)) reqs.push({ key: queueKey(kind, 'rowbinary'), data, items, partition: 0 });
    } else {
      for (const [kind, { lines, items }] of metricRows(md)) reqs.push(this.#rows(kind, lines, items));
    }
    return this.#helper.enqueue(reqs);
  };

  async shutdown(signal?: AbortSignal): Promise<void> {
    try {
      await this.#helper.shutdown(signal);
    } finally {
      const c = this.#client;
      this.#client = undefined;
      await c?.close().catch(() => undefined);
    }
  }
}

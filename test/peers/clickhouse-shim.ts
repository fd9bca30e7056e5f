// Child-process entry: the ClickHouse HTTP interface in front of chdb (ClickHouse 26.x in-process).
// Started by test/peers/clickhouse.ts as `node clickhouse-shim.js --port N --data DIR --port-file F`.
// It runs in its own process because chdb's engine calls would otherwise share the test's event loop.
//
// What it implements (enough for @clickhouse/client and hand-written HTTP):
//   GET /ping and GET / -> "Ok.\n"
//   SQL = ?query= + "\n" + body (INSERT ... FORMAT X rows follow the query in the body); for a binary
//     input format (RowBinary*, Native) in ?query= the body is written to a file and inserted with
//     `INSERT … FROM INFILE 'file' FORMAT X` (chdb takes SQL text, which cannot carry arbitrary bytes)
//   param_* -> server-side query parameters, passed as `SET param_x = '<value as sent>'` so the engine
//     parses the client's escaped-text values exactly as the HTTP interface does (chdb's queryBind
//     would escape them a second time); multipart/form-data bodies (query + param_*) too
//   database -> USE for that request; default_format -> output format (else TabSeparated)
//   every other URL param -> a setting, SET before the statement and reset to DEFAULT after it
//   request bodies with Content-Encoding gzip/deflate/br are decompressed; responses are gzip/deflate/br
//   compressed when enable_http_compression=1 and Accept-Encoding allows it
//   errors: "Code: N. DB::Exception: ... (NAME) (version V)" with X-ClickHouse-Exception-Code and the
//   real server's HTTP status for that error (400 syntax/parse errors, 404 unknown table/database/...,
//   500 otherwise: ClickHouse's HTTPHandler exceptionCodeToHTTPStatus)
// Not implemented: auth (user/password are ignored), sessions (session_id is ignored, one engine
// session for all), native TCP, async_insert semantics, progress headers, zstd/lz4 bodies.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gzipSync, gunzipSync, inflateSync } from 'node:zlib';
import { Session } from 'chdb';

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`clickhouse-shim: missing --${name}`);
  return v;
}

const session = new Session(arg('data'));
const version = (await session.queryAsync('SELECT version()', { format: 'TabSeparated' })).text().trim();

// ClickHouse's HTTPHandler maps these error names to HTTP statuses; everything else is 500.
const STATUS_BY_NAME: Record<string, number> = {};
for (const n of ['REQUIRED_PASSWORD']) STATUS_BY_NAME[n] = 401;
for (const n of ['UNKNOWN_USER', 'WRONG_PASSWORD', 'AUTHENTICATION_FAILED', 'SET_NON_GRANTED_ROLE']) STATUS_BY_NAME[n] = 403;
for (const n of ['CANNOT_PARSE_TEXT', 'CANNOT_PARSE_ESCAPE_SEQUENCE', 'CANNOT_PARSE_QUOTED_STRING', 'CANNOT_PARSE_DATE',
  'CANNOT_PARSE_DATETIME', 'CANNOT_PARSE_NUMBER', 'CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING', 'CANNOT_PARSE_IPV4',
  'CANNOT_PARSE_IPV6', 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', 'CANNOT_PARSE_UUID', 'DUPLICATE_COLUMN', 'ILLEGAL_COLUMN',
  'UNKNOWN_ELEMENT_IN_AST', 'UNKNOWN_TYPE_OF_AST_NODE', 'TOO_DEEP_AST', 'TOO_BIG_AST', 'UNEXPECTED_AST_STRUCTURE',
  'SYNTAX_ERROR', 'INCORRECT_DATA', 'TYPE_MISMATCH', 'VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE']) STATUS_BY_NAME[n] = 400;
for (const n of ['UNKNOWN_TABLE', 'UNKNOWN_FUNCTION', 'UNKNOWN_IDENTIFIER', 'UNKNOWN_TYPE', 'UNKNOWN_STORAGE',
  'UNKNOWN_DATABASE', 'UNKNOWN_SETTING', 'UNKNOWN_DIRECTION_OF_SORTING', 'UNKNOWN_AGGREGATE_FUNCTION', 'UNKNOWN_FORMAT',
  'UNKNOWN_DATABASE_ENGINE', 'UNKNOWN_TYPE_OF_QUERY', 'UNKNOWN_ROLE']) STATUS_BY_NAME[n] = 404;
STATUS_BY_NAME.QUERY_IS_TOO_LARGE = 413;
STATUS_BY_NAME.NOT_IMPLEMENTED = 501;
STATUS_BY_NAME.SOCKET_TIMEOUT = 503;
STATUS_BY_NAME.CANNOT_OPEN_FILE = 503;
STATUS_BY_NAME.CANNOT_SCHEDULE_TASK = 503;
STATUS_BY_NAME.HTTP_LENGTH_REQUIRED = 411;
STATUS_BY_NAME.TIMEOUT_EXCEEDED = 408;

// URL params that are HTTP-interface options, not settings.
const NOT_SETTINGS = new Set(['query', 'database', 'default_format', 'query_id', 'session_id', 'session_timeout',
  'session_check', 'user', 'password', 'quota_key', 'compress', 'decompress', 'role', 'buffer_size', 'wait_end_of_query']);

class ShimError extends Error {
  readonly code: number;
  constructor(code: number, message: string) { super(message); this.code = code; }
}

/** Requests run one at a time: settings are SET on the one engine session and reset afterwards. */
let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn, fn);
  queue = run.catch(() => undefined);
  return run;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks);
  const enc = (req.headers['content-encoding'] ?? '').toLowerCase();
  if (enc === '' || enc === 'identity') return raw;
  if (enc === 'gzip') return gunzipSync(raw);
  if (enc === 'deflate') return inflateSync(raw);
  if (enc === 'br') return brotliDecompressSync(raw);
  throw new ShimError(1002, `Code: 1002. DB::Exception: clickhouse-shim: unsupported Content-Encoding '${enc}' (gzip, deflate, br only). (UNKNOWN_EXCEPTION)`);
}

/** Minimal multipart/form-data: returns name -> text value. */
function parseMultipart(body: Buffer, contentType: string): Map<string, string> {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  const out = new Map<string, string>();
  if (boundary === undefined) return out;
  for (const part of body.toString('utf8').split(`--${boundary}`)) {
    const sep = part.indexOf('\r\n\r\n');
    if (sep < 0) continue;
    const name = /name="([^"]*)"/i.exec(part.slice(0, sep))?.[1];
    if (name === undefined) continue;
    out.set(name, part.slice(sep + 4).replace(/\r\n$/, ''));
  }
  return out;
}

/** Query parameters SET on the engine session so far: they persist there, see execute(). */
const paramsEverSet = new Set<string>();

const quoteString = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function toShimError(e: unknown): ShimError {
  if (e instanceof ShimError) return e;
  const err = e as Error & { clickhouseCode?: number };
  const msg = (err.message ?? String(e)).replace(/^Query failed: /, '');
  const code = typeof err.clickhouseCode === 'number' ? err.clickhouseCode : Number(/^Code: (\d+)\./.exec(msg)?.[1] ?? 1002);
  return new ShimError(code, msg.startsWith('Code: ') ? msg : `Code: ${code}. DB::Exception: ${msg}`);
}

/** `INSERT INTO t (cols) FORMAT RowBinary…|Native` (the rows are the request body): statement, format. */
const BINARY_INSERT = /^\s*(INSERT\s+INTO\s[\s\S]*?)\s+FORMAT\s+(RowBinary[A-Za-z]*|Native)\s*;?\s*$/i;
const infileDir = mkdtempSync(join(tmpdir(), 'chdb-shim-infile-'));
process.once('exit', () => rmSync(infileDir, { recursive: true, force: true }));

function outputFormat(sql: string, defaultFormat: string): string {
  return /\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$/i.exec(sql)?.[1] ?? defaultFormat;
}

async function execute(url: URL, body: Buffer, contentType: string): Promise<{ data: Uint8Array; format: string; summary: Record<string, string> }> {
  const params = new Map<string, string>(url.searchParams);
  let bodyText = body.toString('utf8');
  if (/^multipart\/form-data/i.test(contentType)) {
    for (const [k, v] of parseMultipart(body, contentType)) params.set(k, v);
    bodyText = '';
  }
  let sql = [params.get('query') ?? '', bodyText].filter((s) => s !== '').join('\n');
  let infile: string | undefined;
  const binaryInsert = BINARY_INSERT.exec(params.get('query') ?? '');
  if (binaryInsert && body.length > 0 && !/^multipart\/form-data/i.test(contentType)) {
    infile = join(infileDir, `${randomUUID()}.bin`);
    writeFileSync(infile, body);
    sql = `${binaryInsert[1]} FROM INFILE ${quoteString(infile)} FORMAT ${binaryInsert[2]}`;
  }
  if (sql.trim() === '') throw new ShimError(62, 'Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)');
  const bound = new Map<string, string>();
  const settings: Array<[string, string]> = [];
  for (const [k, v] of params) {
    if (k.startsWith('param_')) {
      if (!SETTING_NAME.test(k)) throw new ShimError(457, `Code: 457. DB::Exception: Bad query parameter name '${k}'. (BAD_QUERY_PARAMETER)`);
      bound.set(k, v);
    } else if (!NOT_SETTINGS.has(k)) {
      if (!SETTING_NAME.test(k)) throw new ShimError(115, `Code: 115. DB::Exception: Unknown setting '${k}'. (UNKNOWN_SETTING)`);
      settings.push([k, v]);
    }
  }
  // A parameter left on the session by an earlier request must not satisfy this one.
  for (const m of sql.matchAll(/\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:/g)) {
    const name = `param_${m[1] ?? ''}`;
    if (paramsEverSet.has(name) && !bound.has(name)) {
      throw new ShimError(456, `Code: 456. DB::Exception: Substitution \`${m[1] ?? ''}\` is not set. (UNKNOWN_QUERY_PARAMETER)`);
    }
  }
  const format = outputFormat(sql, params.get('default_format') ?? 'TabSeparated');
  const database = params.get('database');
  const applied: string[] = [];
  try {
    if (database !== undefined && database !== '') await session.queryAsync(`USE \`${database.replace(/`/g, '``')}\``);
    for (const [k, v] of settings) {
      await session.queryAsync(`SET ${k} = ${quoteString(v)}`);
      applied.push(k);
    }
    for (const [k, v] of bound) {
      await session.queryAsync(`SET ${k} = ${quoteString(v)}`);
      paramsEverSet.add(k);
    }
    const r = await session.queryAsync(sql, { format: params.get('default_format') ?? 'TabSeparated' });
    const summary = {
      read_rows: String(r.rowsRead), read_bytes: String(r.bytesRead),
      elapsed_ns: String(Math.round(r.elapsed * 1e9)),
    };
    return { data: r.bytes(), format, summary };
  } finally {
    if (infile !== undefined) rmSync(infile, { force: true });
    for (const k of applied) await session.queryAsync(`SET ${k} = DEFAULT`).catch(() => undefined);
    if (database !== undefined && database !== '') await session.queryAsync('USE default').catch(() => undefined);
  }
}

function compressFor(req: IncomingMessage, url: URL, data: Uint8Array): { data: Uint8Array; encoding?: string } {
  if (url.searchParams.get('enable_http_compression') !== '1') return { data };
  const accept = String(req.headers['accept-encoding'] ?? '');
  if (/\bgzip\b/.test(accept)) return { data: gzipSync(data), encoding: 'gzip' };
  if (/\bdeflate\b/.test(accept)) return { data: deflateSync(data), encoding: 'deflate' };
  if (/\bbr\b/.test(accept)) return { data: brotliCompressSync(data), encoding: 'br' };
  return { data };
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://shim');
  const queryId = url.searchParams.get('query_id') ?? randomUUID();
  res.setHeader('X-ClickHouse-Server-Display-Name', 'chdb-shim');
  if (url.pathname === '/ping' || (url.pathname === '/' && req.method !== 'POST' && !url.searchParams.has('query'))) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8' }).end('Ok.\n');
    return;
  }
  if (url.pathname !== '/') {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8' }).end(`There is no handle ${url.pathname}\n`);
    return;
  }
  res.setHeader('X-ClickHouse-Query-Id', queryId);
  res.setHeader('X-ClickHouse-Timezone', 'UTC');
  try {
    const body = await readBody(req);
    const { data, format, summary } = await serialized(() => execute(url, body, String(req.headers['content-type'] ?? '')));
    const out = compressFor(req, url, data);
    res.writeHead(200, {
      'Content-Type': /^JSON/i.test(format) ? 'application/json; charset=UTF-8' : 'text/plain; charset=UTF-8',
      'X-ClickHouse-Format': format,
      'X-ClickHouse-Summary': JSON.stringify(summary),
      ...(out.encoding !== undefined ? { 'Content-Encoding': out.encoding } : {}),
    }).end(out.data);
  } catch (e) {
    const err = toShimError(e);
    const name = /\(([A-Z0-9_]{3,})\)\s*$/.exec(err.message)?.[1] ?? '';
    res.writeHead(STATUS_BY_NAME[name] ?? 500, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Exception-Code': String(err.code),
    }).end(`${err.message} (version ${version})\n`);
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((e: unknown) => {
    if (!res.headersSent) res.writeHead(500);
    res.end(`Code: 1002. DB::Exception: clickhouse-shim: ${String(e)}. (UNKNOWN_EXCEPTION)\n`);
  });
});
server.keepAliveTimeout = 10_000; // ClickHouse's default keep_alive_timeout is 10 s (the client reuses sockets)
server.listen(Number(arg('port')), '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const file = arg('port-file');
  writeFileSync(`${file}.tmp`, String(port));
  renameSync(`${file}.tmp`, file);
  process.stderr.write(`clickhouse-shim: chdb ${version} listening on 127.0.0.1:${port}\n`);
});

function shutdown(): void {
  server.close();
  server.closeAllConnections();
  try { session.cleanup(); } catch { /* exiting anyway */ }
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

/**
 * The user-space L7 model: per-connection byte streams go into protocol parser sessions, which emit one
 * `L7Record` per request/response exchange. Spans and request metrics are built from records plus the
 * connection they came from (see ../l7/README.md once it exists). Everything here is pure: parsers are
 * functions over bytes, tested on fixtures and fuzzed.
 *
 * Capture model: the kernel side hands over, per connection and direction, the first bytes of each chunk
 * it saw (a write/read or a TCP segment, depending on the attach point) together with the chunk's real
 * length. When `captured.length < length` the rest of the chunk was not copied (a gap): parsers must
 * treat it as opaque bytes of the current message (a body), never as the start of a new message.
 */

import type { AttributePart } from '../../../pdata/traces.js';

/** Which way bytes flow, seen from the connection's client: requests go client → server. */
export const enum Direction {
  /** client → server (requests). */
  Request = 0,
  /** server → client (responses). */
  Response = 1,
}

/** Role of the observed process on this connection. */
export type Role = 'client' | 'server';

export type Status = 'ok' | 'error' | 'unknown';

/** One request/response exchange. Attribute keys follow current OpenTelemetry semantic conventions. */
export interface L7Record {
  /** Protocol name as registered (`http`, `postgresql`, `mysql`, `redis`, `memcached`, …). */
  readonly protocol: string;
  /** Kernel timestamps (monotonic ns): first byte of the request, last byte of the response seen. */
  readonly startNs: number;
  readonly endNs: number;
  /** Span name per semconv (e.g. `GET`, `GET /users/{id}`, `SELECT orders`, `HGET`). */
  readonly name: string;
  /** Span attributes (semconv keys: http.request.method, url.path, db.system.name, db.query.text, …). */
  readonly attributes: Record<string, string | number | boolean>;
  /**
   * Set when `attributes` is a shared frozen part (HTTP/1: one per distinct request shape, reused while the
   * values repeat): spans take the part as is instead of copying or changing `attributes`.
   */
  readonly attributePart?: AttributePart;
  readonly status: Status;
  /** `error.type` when status is error (HTTP status code as string, SQLSTATE, Redis error prefix…). */
  readonly errorType?: string;
  /** Protocol-level status for metrics: HTTP status code (200), 'ok'/'failed' for databases, … */
  readonly statusLabel: string;
  /** Bytes of request and response on the wire, when known (-1 when not). */
  readonly requestSize: number;
  readonly responseSize: number;
  /** W3C trace context carried by the request, when present (HTTP headers, SQL comments…). */
  readonly traceparent?: string;
  readonly tracestate?: string;
  /** True when the response was never seen (connection closed or timeout): duration is partial. */
  readonly incomplete?: boolean;
  /**
   * True when the error is the caller's fault (HTTP 4xx): CLIENT spans get status Error, SERVER spans keep
   * status Unset and no `error.type` (semconv HTTP span status). Absent: an error is an error on both sides.
   */
  readonly clientFault?: boolean;
}

/** Parser settings that come from the receiver config (privacy, limits). */
export interface ParserOptions {
  /** Keep URL query strings (default false: dropped for privacy). */
  readonly keepQueryString: boolean;
  /** Keep SQL literals instead of replacing them with `?` (default false). */
  readonly keepSqlLiterals: boolean;
  /** Record Redis/Memcached keys (default false; values are never recorded). */
  readonly recordKeys: boolean;
  /** Per-session cap on buffered bytes (partial headers across chunks). Beyond it the session resyncs. */
  readonly maxBufferedBytes: number;
  /** Requests still waiting for a response after this long are emitted as incomplete (ns). */
  readonly requestTimeoutNs: number;
}

export const DEFAULT_PARSER_OPTIONS: ParserOptions = {
  keepQueryString: false,
  keepSqlLiterals: false,
  recordKeys: false,
  maxBufferedBytes: 16 * 1024,
  requestTimeoutNs: 60e9,
};

/**
 * Parsing state for one connection. Implementations never throw and never hang: malformed input makes
 * the session drop what it buffered and resynchronise on the next chunk that looks like a message start.
 * Completed exchanges are appended to `out` (no allocation when nothing completes).
 */
export interface ParserSession {
  /**
   * Bytes observed in `dir`. `captured` holds the first bytes of a chunk whose real length is `length`
   * (≥ captured.length). `tsNs` is the kernel timestamp of the chunk.
   */
  feed(dir: Direction, captured: Uint8Array, length: number, tsNs: number, out: L7Record[]): void;
  /**
   * Optional: feed() of `buf[start, end)` as the captured bytes — the receiver hands over views into its
   * ring batch this way, without copying them or allocating a subarray. Same rules as feed(): nothing of
   * `buf` is kept past the call.
   */
  feedRange?(dir: Direction, buf: Uint8Array, start: number, end: number, length: number, tsNs: number, out: L7Record[]): void;
  /** Emits requests that waited longer than the timeout (as incomplete). */
  expire(nowNs: number, out: L7Record[]): void;
  /** The connection closed: pending requests are emitted as incomplete. */
  close(tsNs: number, out: L7Record[]): void;
  /**
   * Optional: bytes this session holds in buffers right now (partial messages). Lets the receiver account
   * for memory and the fuzz tests assert the `maxBufferedBytes` bound.
   */
  bufferedBytes?(): number;
  /**
   * Optional: requests seen whose response has not completed yet. On server connections it tells the
   * linker how many inbound requests a process is handling when it makes an outbound call (with exactly
   * one, the call belongs to it whatever thread made it).
   */
  pendingRequests?(): number;
}

export interface ProtocolParser {
  /** Registry key and the `protocol` of its records. */
  readonly name: string;
  /** Cheap confirmation that `first` (the first captured bytes of a connection in `dir`) is this protocol. */
  detect(first: Uint8Array, dir: Direction): boolean;
  newSession(opts: ParserOptions): ParserSession;
}

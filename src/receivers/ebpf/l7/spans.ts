import type { InstrumentationScope } from '@opentelemetry/core';
import { AttributePart, SpanKind, SpanRecord, SpanStatusCode, spanStatus } from '../../../pdata/traces.js';
import type { ConnInfo } from './conn.js';
import type { WallClock } from './clock.js';
import { ClockOffset } from './clock.js';
import type { LinkedSpan } from './linking.js';
import type { ResourceCache } from './resources.js';
import type { RouteTemplater } from './routes.js';

/**
 * SpanRecords from linked exchanges. Kind: SERVER for inbound requests (the process accepted the
 * connection), CLIENT for outbound ones. Times: kernel monotonic timestamps through the clock offset.
 * Status (semconv HTTP): Error on 5xx for SERVER spans, on 4xx and 5xx for CLIENT spans (`clientFault`
 * errors keep SERVER spans Unset); `error.type` only when the status is Error. Attributes: the parser's
 * semconv attributes plus network.peer.address/port, client.address (SERVER), server.address/port from
 * the connection when the protocol did not name them (Host header; port 80 when the Host header has none),
 * `url.full` for HTTP CLIENT spans (without the query unless it was kept), and for HTTP the path template as
 * `http.route` (SERVER) or `url.template` (CLIENT), which also completes the span name (`GET /users/{id}`).
 * Resource: one shared object per process (process.pid, sonde.cgroup.path, host.*).
 * The record's attributes object is reused as the span's (the span takes ownership of it); when the record's
 * attributes are a shared part (HTTP/1), the span gets that part plus a second one with what is added here,
 * made once per connection while its values repeat (see SpanPartMemo): no attributes object per span.
 */
/** Hosts whose last url.full is kept (the memo is emptied beyond). */
const URL_MEMO_HOSTS = 1024;

/** A connection's last span part (the attributes build() adds) and what it was made from. */
class SpanPartMemo {
  part: AttributePart | null = null;
  route: string | undefined = undefined;
  hasServerAddress = false;
  hasServerPort = false;
  urlFull: string | undefined = undefined;
  errorType: string | undefined = undefined;
  incomplete = false;
}

export class SpanFactory {
  readonly #clock: WallClock;
  readonly #resources: ResourceCache;
  readonly #routes: RouteTemplater | undefined;
  readonly #scope: InstrumentationScope;
  /** Per server host: the last url.full made (see #urlFull). */
  readonly #urls = new Map<string, { port: number; path: string; query: string | undefined; full: string }>();
  /** Per connection: the last span part made (see #spanPart); dies with the connection. */
  readonly #parts = new WeakMap<ConnInfo, SpanPartMemo>();

  constructor(clock: WallClock, resources: ResourceCache, scope: InstrumentationScope, routes?: RouteTemplater) {
    this.#clock = clock;
    this.#resources = resources;
    this.#routes = routes;
    this.#scope = scope;
  }

  /**
   * `url.full` of an HTTP client span: scheme://host[:port]path[?query]. The last one per host is kept and
   * reused while port, path and query repeat (keep-alive clients repeat their requests).
   */
  #urlFull(host: string, port: number, path: string, query: unknown): string {
    const q = typeof query === 'string' ? query : undefined;
    let m = this.#urls.get(host);
    if (m !== undefined && m.port === port && m.path === path && m.query === q) return m.full;
    const h = host.includes(':') ? `[${host}]` : host;
    const full = `http://${port === 80 ? h : `${h}:${port}`}${path}${q !== undefined ? `?${q}` : ''}`;
    if (m === undefined) {
      if (this.#urls.size >= URL_MEMO_HOSTS) this.#urls.clear();
      m = { port, path, query: q, full };
      this.#urls.set(host, m);
    } else {
      m.port = port;
      m.path = path;
      m.query = q;
      m.full = full;
    }
    return full;
  }

  /**
   * The attributes build() adds to a record whose own are a shared part, as a shared part too, in the order
   * build() adds them to a plain record: reused while the route, url.full, error.type and incompleteness
   * repeat on the connection (everything else in it is the connection's).
   */
  #spanPart(conn: ConnInfo, values: Readonly<Record<string, unknown>>, http: boolean, route: string | undefined, errorType: string | undefined, incomplete: boolean): AttributePart {
    const server = conn.role === 'server';
    const hasServerAddress = values['server.address'] !== undefined;
    const hasServerPort = values['server.port'] !== undefined;
    let urlFull: string | undefined;
    const path = values['url.path'];
    if (!server && http && typeof path === 'string') {
      const host = hasServerAddress ? (values['server.address'] as string) : conn.actualRemoteIp ?? conn.remoteIp;
      const port = hasServerAddress ? (hasServerPort ? (values['server.port'] as number) : 80) : conn.actualRemotePort ?? conn.remotePort;
      urlFull = this.#urlFull(host, port, path, values['url.query']);
    }
    let m = this.#parts.get(conn);
    if (m === undefined) {
      m = new SpanPartMemo();
      this.#parts.set(conn, m);
    } else if (m.part !== null && m.route === route && m.urlFull === urlFull && m.errorType === errorType && m.incomplete === incomplete &&
      m.hasServerAddress === hasServerAddress && m.hasServerPort === hasServerPort) {
      return m.part;
    }
    const a: Record<string, string | number | boolean> = {};
    if (route !== undefined) a[server ? 'http.route' : 'url.template'] = route;
    a['network.peer.address'] = conn.remoteIp;
    a['network.peer.port'] = conn.remotePort;
    if (!hasServerAddress) {
      a['server.address'] = server ? conn.localIp : conn.actualRemoteIp ?? conn.remoteIp;
      a['server.port'] = server ? conn.localPort : conn.actualRemotePort ?? conn.remotePort;
    } else if (http && !hasServerPort) {
      a['server.port'] = 80;
    }
    if (server) a['client.address'] = conn.remoteIp;
    else if (urlFull !== undefined) a['url.full'] = urlFull;
    if (errorType !== undefined) a['error.type'] = errorType;
    if (incomplete) a['sonde.l7.incomplete'] = true;
    m.part = new AttributePart(a);
    m.route = route;
    m.urlFull = urlFull;
    m.errorType = errorType;
    m.incomplete = incomplete;
    m.hasServerAddress = hasServerAddress;
    m.hasServerPort = hasServerPort;
    return m.part;
  }

  build(ls: LinkedSpan): SpanRecord {
    const { record, conn } = ls.ev;
    const server = conn.role === 'server';
    const shared = record.attributePart;
    // (a port without an address would be replaced in place below: that rare case takes a copy)
    if (shared !== undefined && !(shared.values['server.address'] === undefined && shared.values['server.port'] !== undefined)) return this.#buildShared(ls, shared);
    const attributes = shared !== undefined ? { ...record.attributes } : record.attributes;
    let name = record.name;

    if (record.protocol === 'http' && this.#routes !== undefined) {
      const path = attributes['url.path'];
      if (typeof path === 'string') {
        const route = this.#routes.entry(conn.cgroupPath, path);
        attributes[server ? 'http.route' : 'url.template'] = route.route;
        name = route.spanName(name);
      }
    }
    attributes['network.peer.address'] = conn.remoteIp;
    attributes['network.peer.port'] = conn.remotePort;
    const http = record.protocol === 'http';
    if (attributes['server.address'] === undefined) {
      attributes['server.address'] = server ? conn.localIp : conn.actualRemoteIp ?? conn.remoteIp;
      attributes['server.port'] = server ? conn.localPort : conn.actualRemotePort ?? conn.remotePort;
    } else if (http && attributes['server.port'] === undefined) {
      attributes['server.port'] = 80; // a Host header without a port: the scheme's default
    }
    if (server) attributes['client.address'] = conn.remoteIp;
    else if (http && typeof attributes['url.path'] === 'string') {
      // semconv requires url.full on HTTP client spans: scheme://host[:port]path[?query] (query only if kept)
      attributes['url.full'] = this.#urlFull(attributes['server.address'] as string, attributes['server.port'] as number, attributes['url.path'], attributes['url.query']);
    }
    const failed = record.status === 'error' && !(server && record.clientFault === true);
    if (failed && record.errorType !== undefined) attributes['error.type'] = record.errorType;
    if (record.incomplete === true) attributes['sonde.l7.incomplete'] = true;

    const span = this.#span(ls, name, failed);
    span.attributes = attributes;
    return span;
  }

  /** build() for a record whose attributes are a shared part. */
  #buildShared(ls: LinkedSpan, shared: AttributePart): SpanRecord {
    const { record, conn } = ls.ev;
    const server = conn.role === 'server';
    const values = shared.values;
    let name = record.name;
    let route: string | undefined;
    const http = record.protocol === 'http';
    if (http && this.#routes !== undefined) {
      const path = values['url.path'];
      if (typeof path === 'string') {
        const r = this.#routes.entry(conn.cgroupPath, path);
        route = r.route;
        name = r.spanName(name);
      }
    }
    const failed = record.status === 'error' && !(server && record.clientFault === true);
    const part = this.#spanPart(conn, values, http, route, failed ? record.errorType : undefined, record.incomplete === true);
    const span = this.#span(ls, name, failed);
    span.setAttributeParts(shared, part);
    return span;
  }

  /** The span without its attributes. */
  #span(ls: LinkedSpan, name: string, failed: boolean): SpanRecord {
    const { record, conn } = ls.ev;
    const server = conn.role === 'server';
    const span = new SpanRecord();
    span.name = name;
    span.kind = server ? SpanKind.SERVER : SpanKind.CLIENT;
    span.setIdLanes(ls.t0, ls.t1, ls.t2, ls.t3, ls.s0, ls.s1, ls.hasParent, ls.p0, ls.p1);
    span.traceFlags = ls.traceFlags;
    span.traceState = ls.traceState;
    const clock = this.#clock;
    if (clock instanceof ClockOffset) {
      span.startSeconds = clock.wallSeconds(record.startNs);
      span.startNanos = clock.wallNanos(record.startNs);
      span.endSeconds = clock.wallSeconds(record.endNs);
      span.endNanos = clock.wallNanos(record.endNs);
    } else {
      span.startTime = clock.toHrTime(record.startNs);
      span.endTime = clock.toHrTime(record.endNs);
    }
    if (failed) span.status = spanStatus(SpanStatusCode.ERROR);
    if (ls.link !== undefined) span.links = [{ context: { traceId: ls.link.traceId, spanId: ls.link.spanId, traceFlags: 1, isRemote: true }, attributes: { 'sonde.link': 'far_server' } }];
    span.resource = this.#resources.forProcess(conn.pid, conn.cgroupPath);
    span.instrumentationScope = this.#scope;
    return span;
  }
}

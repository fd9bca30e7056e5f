/**
 * URL path → low-cardinality template (`/users/42/orders/9f1c…` → `/users/{id}/orders/{id}`), the
 * cardinality guard of HTTP metrics and span names. A segment becomes `{id}` when it is:
 * - all digits;
 * - a UUID (8-4-4-4-12 hex);
 * - a hex string of ≥ 16 chars with a digit (md5/sha/ObjectId-style hashes);
 * - a token of ≥ 8 chars of which ≥ 30 % are digits (order-12345, a1b2c3d4…), or of ≥ 24 chars of
 *   [A-Za-z0-9_-] with a digit (base64url tokens, JWT parts), or one containing '@' (emails).
 * Each scope (a service: one cgroup) keeps at most `cap` distinct templates; new ones beyond it become
 * `{overflow}`. Templates are cached per path, so the hot path is one Map lookup.
 */

export const OVERFLOW_ROUTE = '{overflow}';
const ID = '{id}';

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** True when the path segment p[s, e) looks like an identifier. */
export function isIdSegment(p: string, s: number, e: number): boolean {
  const n = e - s;
  if (n === 0) return false;
  let digits = 0;
  let hex = 0;
  let tokenChars = 0;
  let at = false;
  for (let i = s; i < e; i++) {
    const c = p.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    if (isHex(c)) hex++;
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95) tokenChars++;
    if (c === 64) at = true;
  }
  if (digits === n) return true;
  if (at) return true;
  if (n === 36 && p.charCodeAt(s + 8) === 45 && p.charCodeAt(s + 13) === 45 && p.charCodeAt(s + 18) === 45 && p.charCodeAt(s + 23) === 45 && hex === 32) return true;
  if (n >= 16 && hex === n && digits > 0) return true;
  if (n >= 8 && digits * 10 >= n * 3) return true;
  if (n >= 24 && tokenChars === n && digits > 0) return true;
  return false;
}

/** The template of a path (no query string): id-like segments replaced by `{id}`. */
export function templatePath(path: string): string {
  if (path.length === 0) return '/';
  let out = '';
  let changed = false;
  let s = 0;
  while (s <= path.length) {
    let e = path.indexOf('/', s);
    if (e < 0) e = path.length;
    if (isIdSegment(path, s, e)) {
      out += ID;
      changed = true;
    } else {
      out += path.slice(s, e);
    }
    if (e < path.length) out += '/';
    s = e + 1;
  }
  return changed ? out : path;
}

/** A path's template, and the span name last made from it (`METHOD template`), kept with it. */
export class RouteEntry {
  readonly route: string;
  method = '';
  name = '';

  constructor(route: string) {
    this.route = route;
  }

  /** `${method} ${route}`, made once per method change (keep-alive clients repeat the same request). */
  spanName(method: string): string {
    if (method !== this.method) {
      this.method = method;
      this.name = `${method} ${this.route}`;
    }
    return this.name;
  }
}

class Scope {
  readonly byPath = new Map<string, RouteEntry>();
  readonly templates = new Set<string>();
}

export class RouteTemplater {
  readonly #cap: number;
  readonly #maxPaths: number;
  readonly #scopes = new Map<string, Scope>();

  /**
   * @param cap distinct templates per scope before `{overflow}`
   * @param maxPaths cached raw paths per scope (the cache is reset when full; templates are kept)
   */
  constructor(cap = 200, maxPaths = 4096) {
    this.#cap = cap;
    this.#maxPaths = maxPaths;
  }

  route(scope: string, path: string): string {
    return this.entry(scope, path).route;
  }

  /** The path's template with its span-name memo. */
  entry(scope: string, path: string): RouteEntry {
    let sc = this.#scopes.get(scope);
    if (sc === undefined) {
      sc = new Scope();
      this.#scopes.set(scope, sc);
    }
    const hit = sc.byPath.get(path);
    if (hit !== undefined) return hit;
    let t = templatePath(path);
    if (!sc.templates.has(t)) {
      if (sc.templates.size >= this.#cap) t = OVERFLOW_ROUTE;
      else sc.templates.add(t);
    }
    if (sc.byPath.size >= this.#maxPaths) sc.byPath.clear();
    const e = new RouteEntry(t);
    sc.byPath.set(path, e);
    return e;
  }

  /** Distinct templates of a scope (overflow excluded). */
  templates(scope: string): string[] {
    return [...(this.#scopes.get(scope)?.templates ?? [])];
  }
}

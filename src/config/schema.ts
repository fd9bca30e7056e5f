/**
 * A small, strict schema language for component configs.
 *
 * Every component declares one schema; its TypeScript config type is inferred from it (`Infer<typeof schema>`).
 * Parsing never throws: it returns the typed value and appends every problem it finds to `issues`, each with
 * the path of the offending value, so `sonde validate` can report all errors at once. The same schema objects
 * generate the configuration reference in the README (see `describeSchema`).
 */

export interface Issue {
  /** Path segments from the document root, e.g. ['exporters', 'otlp/primary', 'endpoint']. */
  readonly path: readonly string[];
  readonly message: string;
}

/** Marker returned by `parse` when the value is invalid (the issue has been recorded). */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

export interface DocEntry {
  readonly path: string;
  readonly type: string;
  readonly description: string;
  /** Not optional in the schema (a default may still fill it in). */
  readonly required: boolean;
  readonly schema: Schema<unknown>;
}

export abstract class Schema<T> {
  description = '';
  abstract readonly typeName: string;

  /**
   * Parse the user's `value` (already env-expanded). `base` is the component's default (already typed):
   * maps take from it every key the user left out, as the Collector decodes YAML over the default struct.
   * Records problems in `issues`.
   */
  abstract parse(value: unknown, path: readonly string[], issues: Issue[], base?: T): T | Invalid;

  describe(description: string): this {
    this.description = description;
    return this;
  }

  optional(): Schema<T | undefined> {
    return new OptionalSchema(this);
  }

  /** Children for documentation (objects only). */
  docChildren(): ReadonlyArray<readonly [string, Schema<unknown>]> {
    return [];
  }

  isOptional(): boolean {
    return false;
  }

  /** True when a missing/null value is meaningful (an empty map means "all defaults"). */
  acceptsMissing(): boolean {
    return this.isOptional();
  }
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

class OptionalSchema<T> extends Schema<T | undefined> {
  readonly inner: Schema<T>;
  constructor(inner: Schema<T>) {
    super();
    this.inner = inner;
    this.description = inner.description;
  }
  get typeName(): string {
    return this.inner.typeName;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[], base?: T | undefined): T | undefined | Invalid {
    if (value === undefined || value === null) return base;
    return this.inner.parse(value, path, issues, base);
  }
  override docChildren(): ReadonlyArray<readonly [string, Schema<unknown>]> {
    return this.inner.docChildren();
  }
  override isOptional(): boolean {
    return true;
  }
  override describe(description: string): this {
    this.description = description;
    this.inner.description = description;
    return this;
  }
}

export interface StringOptions {
  readonly nonEmpty?: boolean;
  readonly pattern?: RegExp;
  /** Message when the pattern does not match, e.g. 'must be host:port'. */
  readonly patternMessage?: string;
}

class StringSchema extends Schema<string> {
  readonly typeName: string = 'string';
  readonly opts: StringOptions;
  constructor(opts: StringOptions = {}) {
    super();
    this.opts = opts;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[]): string | Invalid {
    if (typeof value === 'number' || typeof value === 'boolean') value = String(value);
    if (typeof value !== 'string') {
      issues.push({ path, message: `must be a string, got ${typeOf(value)}` });
      return INVALID;
    }
    if (this.opts.nonEmpty && value.length === 0) {
      issues.push({ path, message: 'must not be empty' });
      return INVALID;
    }
    if (this.opts.pattern && !this.opts.pattern.test(value)) {
      issues.push({ path, message: `${this.opts.patternMessage ?? `must match ${String(this.opts.pattern)}`}, got ${JSON.stringify(value)}` });
      return INVALID;
    }
    return value;
  }
}

export interface NumberOptions {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

class NumberSchema extends Schema<number> {
  readonly opts: NumberOptions;
  constructor(opts: NumberOptions) {
    super();
    this.opts = opts;
  }
  get typeName(): string {
    const range = this.opts.min !== undefined || this.opts.max !== undefined
      ? ` ${this.opts.min ?? '-∞'}..${this.opts.max ?? '∞'}` : '';
    return `${this.opts.integer ? 'integer' : 'number'}${range}`;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[]): number | Invalid {
    if (typeof value !== 'number' || Number.isNaN(value)) {
      issues.push({ path, message: `must be ${this.opts.integer ? 'an integer' : 'a number'}, got ${typeOf(value)}` });
      return INVALID;
    }
    if (this.opts.integer && !Number.isInteger(value)) {
      issues.push({ path, message: `must be an integer, got ${value}` });
      return INVALID;
    }
    if (this.opts.min !== undefined && value < this.opts.min) {
      issues.push({ path, message: `must be ≥ ${this.opts.min}, got ${value}` });
      return INVALID;
    }
    if (this.opts.max !== undefined && value > this.opts.max) {
      issues.push({ path, message: `must be ≤ ${this.opts.max}, got ${value}` });
      return INVALID;
    }
    return value;
  }
}

class BooleanSchema extends Schema<boolean> {
  readonly typeName = 'bool';
  parse(value: unknown, path: readonly string[], issues: Issue[]): boolean | Invalid {
    if (typeof value !== 'boolean') {
      issues.push({ path, message: `must be true or false, got ${typeOf(value)}` });
      return INVALID;
    }
    return value;
  }
}

class EnumSchema<T extends string> extends Schema<T> {
  readonly values: readonly T[];
  constructor(values: readonly T[]) {
    super();
    this.values = values;
  }
  get typeName(): string {
    return `one of ${this.values.join(', ')}`;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[]): T | Invalid {
    if (typeof value !== 'string' || !(this.values as readonly string[]).includes(value)) {
      issues.push({ path, message: `must be one of ${this.values.map((v) => JSON.stringify(v)).join(', ')}, got ${typeOf(value)}` });
      return INVALID;
    }
    return value as T;
  }
}

const DURATION_RE = /^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$/;
const DURATION_PART_RE = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration ("1m30s", "250ms") into milliseconds. Returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (!DURATION_RE.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(DURATION_PART_RE)) ms += Number(m[1]) * DURATION_UNIT_MS[m[2]];
  return ms;
}

/** Durations are Go-style strings ("5s", "250ms", "1m30s"); the parsed value is milliseconds. */
class DurationSchema extends Schema<number> {
  readonly typeName = 'duration';
  readonly min: number;
  constructor(min = 0) {
    super();
    this.min = min;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[]): number | Invalid {
    const ms = typeof value === 'string' ? parseDuration(value.trim()) : value === 0 ? 0 : undefined;
    if (ms === undefined) {
      issues.push({ path, message: `must be a duration like "5s" or "250ms", got ${typeOf(value)}` });
      return INVALID;
    }
    if (ms < this.min) {
      issues.push({ path, message: `must be at least ${this.min}ms, got ${JSON.stringify(value)}` });
      return INVALID;
    }
    return ms;
  }
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB|K|M|G)?$/i;
const SIZE_UNITS: Record<string, number> = {
  b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3,
};

/** Parses "64MiB", "512KB", "1024" into bytes. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = SIZE_RE.exec(value.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]);
}

class SizeSchema extends Schema<number> {
  readonly typeName = 'size (bytes, or e.g. "64MiB")';
  parse(value: unknown, path: readonly string[], issues: Issue[]): number | Invalid {
    const bytes = typeof value === 'string' || typeof value === 'number' ? parseSize(value) : undefined;
    if (bytes === undefined) {
      issues.push({ path, message: `must be a size like 1048576 or "64MiB", got ${typeOf(value)}` });
      return INVALID;
    }
    return bytes;
  }
}

/** host:port, [ipv6]:port or :port. Port 0 is allowed (pick any free port). */
const ENDPOINT_RE = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]*):(\d{1,5})$/;

export function isHostPort(value: string): boolean {
  const m = ENDPOINT_RE.exec(value);
  return m !== null && Number(m[1]) <= 65535;
}

/** Splits host:port; an empty host means all interfaces. */
export function splitHostPort(value: string): { host: string; port: number } {
  const idx = value.lastIndexOf(':');
  let host = value.slice(0, idx);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(value.slice(idx + 1)) };
}

class EndpointSchema extends Schema<string> {
  readonly typeName = 'host:port';
  parse(value: unknown, path: readonly string[], issues: Issue[]): string | Invalid {
    if (typeof value !== 'string' || !isHostPort(value)) {
      issues.push({ path, message: `must be host:port, got ${typeOf(value)}` });
      return INVALID;
    }
    return value;
  }
}

class UrlSchema extends Schema<string> {
  readonly typeName: string;
  readonly protocols: readonly string[];
  constructor(protocols: readonly string[]) {
    super();
    this.protocols = protocols;
    this.typeName = `URL (${protocols.join(', ')})`;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[]): string | Invalid {
    let ok = false;
    if (typeof value === 'string') {
      try {
        const u = new URL(value);
        ok = this.protocols.includes(u.protocol.replace(/:$/, '')) && u.host !== '';
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      issues.push({ path, message: `must be a URL with scheme ${this.protocols.join(' or ')} and a host, got ${typeOf(value)}` });
      return INVALID;
    }
    return value as string;
  }
}

class ArraySchema<T> extends Schema<T[]> {
  readonly item: Schema<T>;
  readonly minItems: number;
  constructor(item: Schema<T>, minItems: number) {
    super();
    this.item = item;
    this.minItems = minItems;
  }
  get typeName(): string {
    return `list of ${this.item.typeName}`;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[]): T[] | Invalid {
    if (!Array.isArray(value)) {
      issues.push({ path, message: `must be a list, got ${typeOf(value)}` });
      return INVALID;
    }
    if (value.length < this.minItems) {
      issues.push({ path, message: `must have at least ${this.minItems} item(s)` });
      return INVALID;
    }
    const out: T[] = [];
    let bad = false;
    value.forEach((v, i) => {
      const r = this.item.parse(v, [...path, String(i)], issues);
      if (r === INVALID) bad = true;
      else out.push(r);
    });
    return bad ? INVALID : out;
  }
}

class MapSchema<T> extends Schema<Record<string, T>> {
  readonly value: Schema<T>;
  constructor(value: Schema<T>) {
    super();
    this.value = value;
  }
  get typeName(): string {
    return `map of ${this.value.typeName}`;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[], base?: Record<string, T>): Record<string, T> | Invalid {
    if (value === null || value === undefined) return { ...base };
    if (typeof value !== 'object' || Array.isArray(value)) {
      issues.push({ path, message: `must be a map, got ${typeOf(value)}` });
      return INVALID;
    }
    const out: Record<string, T> = { ...base };
    let bad = false;
    for (const [k, v] of Object.entries(value)) {
      const r = this.value.parse(v, [...path, k], issues, base?.[k]);
      if (r === INVALID) bad = true;
      else out[k] = r;
    }
    return bad ? INVALID : out;
  }
  override acceptsMissing(): boolean {
    return true;
  }
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
export type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

export class ObjectSchema<S extends Shape> extends Schema<ObjectOf<S>> {
  readonly typeName = 'map';
  readonly shape: S;
  constructor(shape: S) {
    super();
    this.shape = shape;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[], base?: ObjectOf<S>): ObjectOf<S> | Invalid {
    // An empty YAML section (`batch:`) is null: it means "all defaults".
    if (value === null || value === undefined) value = {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      issues.push({ path, message: `must be a map, got ${typeOf(value)}` });
      return INVALID;
    }
    const input = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let bad = false;
    const known = Object.keys(this.shape);
    for (const key of Object.keys(input)) {
      if (!(key in this.shape)) {
        issues.push({ path: [...path, key], message: `unknown key "${key}" (valid keys: ${known.join(', ') || 'none'})` });
        bad = true;
      }
    }
    const defaults = (base ?? {}) as Record<string, unknown>;
    for (const key of known) {
      const schema = this.shape[key];
      const v = input[key];
      const b = defaults[key];
      if (v === undefined || v === null) {
        if (b !== undefined && !(schema.docChildren().length > 0)) {
          out[key] = b; // the default, already typed
          continue;
        }
        if (b === undefined && !schema.acceptsMissing()) {
          issues.push({ path: [...path, key], message: 'is required' });
          bad = true;
          continue;
        }
      }
      const r = schema.parse(v, [...path, key], issues, b);
      if (r === INVALID) bad = true;
      else if (r !== undefined) out[key] = r;
    }
    return bad ? INVALID : (out as ObjectOf<S>);
  }
  override docChildren(): ReadonlyArray<readonly [string, Schema<unknown>]> {
    return Object.entries(this.shape);
  }
  override acceptsMissing(): boolean {
    return true;
  }
}

/** Schema with an extra check on the parsed value (cross-field rules). The check must not mutate. */
class RefinedSchema<T> extends Schema<T> {
  readonly inner: Schema<T>;
  readonly check: (v: T) => Array<{ path?: readonly string[]; message: string }>;
  constructor(inner: Schema<T>, check: (v: T) => Array<{ path?: readonly string[]; message: string }>) {
    super();
    this.inner = inner;
    this.check = check;
    this.description = inner.description;
  }
  get typeName(): string {
    return this.inner.typeName;
  }
  parse(value: unknown, path: readonly string[], issues: Issue[], base?: T): T | Invalid {
    const r = this.inner.parse(value, path, issues, base);
    if (r === INVALID) return r;
    const problems = this.check(r);
    for (const p of problems) issues.push({ path: [...path, ...(p.path ?? [])], message: p.message });
    return problems.length > 0 ? INVALID : r;
  }
  override docChildren(): ReadonlyArray<readonly [string, Schema<unknown>]> {
    return this.inner.docChildren();
  }
  override acceptsMissing(): boolean {
    return this.inner.acceptsMissing();
  }
  override isOptional(): boolean {
    return this.inner.isOptional();
  }
}

/** Accepts any YAML value untouched (for opaque pass-through sections). */
class AnySchema extends Schema<unknown> {
  readonly typeName = 'any';
  parse(value: unknown): unknown {
    return value;
  }
}

export const s = {
  string: (opts?: StringOptions) => new StringSchema(opts),
  number: (opts: NumberOptions = {}) => new NumberSchema(opts),
  int: (opts: Omit<NumberOptions, 'integer'> = {}) => new NumberSchema({ ...opts, integer: true }),
  bool: () => new BooleanSchema(),
  enum: <const T extends string>(values: readonly T[]) => new EnumSchema<T>(values),
  duration: (min?: number) => new DurationSchema(min),
  size: () => new SizeSchema(),
  endpoint: () => new EndpointSchema(),
  url: (protocols: readonly string[] = ['http', 'https']) => new UrlSchema(protocols),
  array: <T>(item: Schema<T>, opts: { minItems?: number } = {}) => new ArraySchema(item, opts.minItems ?? 0),
  map: <T>(value: Schema<T>) => new MapSchema(value),
  object: <S extends Shape>(shape: S) => new ObjectSchema(shape),
  refine: <T>(inner: Schema<T>, check: (v: T) => Array<{ path?: readonly string[]; message: string }>) => new RefinedSchema(inner, check),
  any: () => new AnySchema(),
};

/** Flattens a schema into documentation rows (used to generate and check the README config reference). */
export function describeSchema(schema: Schema<unknown>, prefix = ''): DocEntry[] {
  const rows: DocEntry[] = [];
  for (const [key, child] of schema.docChildren()) {
    const path = prefix ? `${prefix}.${key}` : key;
    const children = child.docChildren();
    rows.push({ path, type: children.length > 0 ? 'map' : child.typeName, description: child.description, required: !child.acceptsMissing() && children.length === 0, schema: child });
    if (children.length > 0) rows.push(...describeSchema(child, path));
  }
  return rows;
}

/**
 * OpenTelemetry → Prometheus names, following the Collector's prometheus translator
 * (pkg/translator/prometheus): sanitized names, unit suffixes, `_total` for monotonic counters,
 * `_ratio` for unit "1" gauges, sanitized label names.
 */

const UNIT_WORDS: Record<string, string> = {
  d: 'days', h: 'hours', min: 'minutes', s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', TiBy: 'tibibytes',
  KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes', TBy: 'terabytes',
  m: 'meters', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams', Cel: 'celsius', Hz: 'hertz', '%': 'percent',
};
const PER_WORDS: Record<string, string> = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

function unitWord(u: string, per: boolean): string {
  const w = per ? PER_WORDS[u] ?? UNIT_WORDS[u] : UNIT_WORDS[u];
  return sanitizeName(w ?? u).replace(/^_+|_+$/g, '');
}

/** The Prometheus suffix for an OTel unit ('' when none): "s" → "seconds", "By/s" → "bytes_per_second". */
export function unitSuffix(unit: string): string {
  const u = unit.replace(/\{[^}]*\}/g, '').trim();
  if (!u || u === '1') return '';
  const [main, per] = u.split('/', 2);
  const parts: string[] = [];
  if (main) parts.push(unitWord(main, false));
  if (per) parts.push(`per_${unitWord(per, true)}`);
  return parts.filter(Boolean).join('_');
}

/** Replaces characters outside [a-zA-Z0-9_:] with '_', collapses runs, prefixes a leading digit. */
export function sanitizeName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/__+/g, '_');
  if (/^[0-9]/.test(out)) out = `_${out}`;
  return out;
}

/** Label names: [a-zA-Z_][a-zA-Z0-9_]*; names starting with a digit get `key_`, `__x` stays reserved for Prometheus. */
export function sanitizeLabelName(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(out)) out = `key_${out}`;
  else if (out.startsWith('__') && !out.startsWith('__name__')) out = `key${out}`;
  return out || 'key_empty';
}

export type PromType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'unknown';

export interface NameOptions {
  readonly namespace?: string;
  readonly addSuffixes: boolean;
}

/**
 * The family name for a metric (without `_bucket`/`_sum`/`_count`). Counters keep or gain `_total`;
 * existing unit words are not repeated ("…_duration_seconds_total" stays as it is).
 */
export function metricFamilyName(name: string, unit: string, type: PromType, opts: NameOptions): string {
  let out = sanitizeName(opts.namespace ? `${opts.namespace}_${name}` : name);
  if (opts.addSuffixes) {
    const hasTotal = out.endsWith('_total');
    if (hasTotal) out = out.slice(0, -'_total'.length);
    const suffix = unitSuffix(unit);
    if (suffix && !out.endsWith(`_${suffix}`) && !out.includes(`_${suffix}_`)) out = `${out}_${suffix}`;
    if (unit === '1' && type === 'gauge' && !out.endsWith('_ratio')) out = `${out}_ratio`;
    if (type === 'counter' || hasTotal) out = `${out}_total`;
  }
  return out;
}

export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** A small structured logger: `console` (human) or `json` lines on stderr, with per-component fields. */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Logs only the first time `key` is seen by this logger family (for conditions that repeat). */
  warnOnce(key: string, msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
  isEnabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  level?: LogLevel;
  encoding?: 'console' | 'json';
  write?: (line: string) => void;
}

interface Shared {
  level: number;
  encoding: 'console' | 'json';
  write: (line: string) => void;
  once: Set<string>;
}

function fmtValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

class StructuredLogger implements Logger {
  readonly #shared: Shared;
  readonly #fields: LogFields;
  constructor(shared: Shared, fields: LogFields) {
    this.#shared = shared;
    this.#fields = fields;
  }
  isEnabled(level: LogLevel): boolean {
    return LEVELS[level] >= this.#shared.level;
  }
  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[level] < this.#shared.level) return;
    const all = fields ? { ...this.#fields, ...fields } : this.#fields;
    const ts = new Date().toISOString();
    if (this.#shared.encoding === 'json') {
      const rec: Record<string, unknown> = { ts, level, msg };
      for (const [k, v] of Object.entries(all)) rec[k] = v instanceof Error ? v.message : v;
      this.#shared.write(JSON.stringify(rec));
    } else {
      let line = `${ts} ${level.toUpperCase().padEnd(5)} ${msg}`;
      for (const [k, v] of Object.entries(all)) line += ` ${k}=${fmtValue(v)}`;
      this.#shared.write(line);
    }
  }
  debug(msg: string, fields?: LogFields): void {
    this.#log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#log('error', msg, fields);
  }
  warnOnce(key: string, msg: string, fields?: LogFields): void {
    const k = `${JSON.stringify(this.#fields)}|${key}`;
    if (this.#shared.once.has(k)) return;
    this.#shared.once.add(k);
    this.#log('warn', msg, fields);
  }
  child(fields: LogFields): Logger {
    return new StructuredLogger(this.#shared, { ...this.#fields, ...fields });
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return new StructuredLogger({
    level: LEVELS[opts.level ?? 'info'],
    encoding: opts.encoding ?? 'console',
    write: opts.write ?? ((line) => process.stderr.write(`${line}\n`)),
    once: new Set(),
  }, {});
}

/** A logger that drops everything (tests, `sonde validate`). */
export function nopLogger(): Logger {
  return createLogger({ level: 'error', write: () => undefined });
}

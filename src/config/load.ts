import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { ConfigFileError } from './errors.js';
import type { Issue } from './schema.js';

export interface LoadedYaml {
  readonly file: string;
  /** The document as plain JS values, `${env:…}` already expanded. */
  readonly value: unknown;
  /** Line (1-based) of the key or item at `path`, or of its nearest ancestor that has one. */
  lineOf(path: readonly string[]): number | undefined;
  /** Problems found while expanding environment references (unset variables). */
  readonly warnings: readonly Issue[];
}

export function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new ConfigFileError(file, `config file ${file} does not exist (pass --config FILE)`);
    if (err.code === 'EACCES') throw new ConfigFileError(file, `config file ${file} is not readable: permission denied`);
    if (err.code === 'EISDIR') throw new ConfigFileError(file, `config file ${file} is a directory`);
    throw new ConfigFileError(file, `cannot read config file ${file}: ${err.message}`);
  }
}

const key = (p: readonly string[]) => p.join('\u0000');

function indexLines(node: Node | null | undefined, path: string[], lc: LineCounter, out: Map<string, number>): void {
  if (!node) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const p = [...path, k];
      const range = (pair.key as Node | null)?.range;
      if (range) out.set(key(p), lc.linePos(range[0]).line);
      indexLines(pair.value as Node | null, p, lc, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const p = [...path, String(i)];
      const range = (item as Node | null)?.range;
      if (range) out.set(key(p), lc.linePos(range[0]).line);
      indexLines(item as Node | null, p, lc, out);
    });
  }
}

const ENV_RE = /\$\$|\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_ENV_RE = /^\$\{(?:env:)?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** Re-types a value that came entirely from one env reference (the Collector does the same). */
function retype(text: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === 'true' || text === 'false') return text === 'true';
  return text;
}

/**
 * Expands `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` inside string values; `$$` is a literal `$`.
 * An unset variable without a default becomes '' and is reported as a warning (the Collector's behaviour).
 */
export function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[] = [], warnings: Issue[] = []): unknown {
  if (typeof value === 'string') {
    if (!value.includes('$')) return value;
    const whole = WHOLE_ENV_RE.test(value);
    const out = value.replace(ENV_RE, (m: string, name: string | undefined, def: string | undefined) => {
      if (m === '$$') return '$';
      const v = env[name as string];
      if (v !== undefined && v !== '') return v;
      if (def !== undefined) return def;
      warnings.push({ path, message: `environment variable ${name} is not set; using an empty value` });
      return '';
    });
    return whole ? retype(out) : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, [...path, String(i)], warnings));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, env, [...path, k], warnings);
    return out;
  }
  return value;
}

/** Parses YAML text; a syntax error becomes a ConfigFileError with line and column. */
export function parseYamlConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedYaml {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    let pos = lc.linePos(e.pos[0]);
    if (e.code === 'DUPLICATE_KEY') {
      // yaml marks the end of the first occurrence; point at the repeated key instead.
      const line = lc.linePos(e.pos[1]).line;
      const src = text.split('\n')[line - 1] ?? '';
      pos = { line, col: src.length - src.trimStart().length + 1 };
    }
    const msg = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigFileError(file, `${file}: YAML error at line ${pos.line}, column ${pos.col}: ${msg}`);
  }
  const lines = new Map<string, number>();
  indexLines(doc.contents as Node | null, [], lc, lines);
  const warnings: Issue[] = [];
  const value = expandEnv(doc.toJS({ maxAliasCount: 100 }), env, [], warnings);
  return {
    file,
    value,
    warnings,
    lineOf(path: readonly string[]): number | undefined {
      for (let n = path.length; n > 0; n--) {
        const l = lines.get(key(path.slice(0, n)));
        if (l !== undefined) return l;
      }
      return undefined;
    },
  };
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedYaml {
  return parseYamlConfig(readConfigFile(file), file, env);
}

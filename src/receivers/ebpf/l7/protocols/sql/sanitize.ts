/**
 * SQL text → what a span may carry: literals replaced by `?` (unless told to keep them), comments dropped
 * (a sqlcommenter `traceparent`/`tracestate` is extracted first), whitespace collapsed, `IN (?, ?, …)`
 * and repeated `VALUES (…), (…)` rows collapsed to one; plus `db.operation.name` and, when the statement
 * names exactly one table, `db.collection.name`. One pass over the text, no regex backtracking on user
 * input except two linear collapses over the already-sanitized output. Never throws: truncated input
 * (an unterminated string or comment at the end of a captured prefix) is handled as "runs to the end".
 */

export interface SqlDialect {
  /** Backslash escapes inside '…' (MySQL default; PostgreSQL only in E'…'). */
  readonly backslashEscapes: boolean;
  /** "…" is a string literal (MySQL without ANSI_QUOTES) rather than a quoted identifier. */
  readonly doubleQuotedStrings: boolean;
  /** $tag$…$tag$ strings and $1 placeholders (PostgreSQL). */
  readonly dollarQuotes: boolean;
  /** `# comment` to end of line (MySQL). */
  readonly hashComments: boolean;
  /** Nested /* … *\/ comments (PostgreSQL). */
  readonly nestedComments: boolean;
}

export const POSTGRES_DIALECT: SqlDialect = {
  backslashEscapes: false, doubleQuotedStrings: false, dollarQuotes: true, hashComments: false, nestedComments: true,
};
export const MYSQL_DIALECT: SqlDialect = {
  backslashEscapes: true, doubleQuotedStrings: true, dollarQuotes: false, hashComments: true, nestedComments: false,
};

export interface SqlInfo {
  /** Sanitized (or, with keepLiterals, raw but trimmed) statement text. */
  readonly text: string;
  /** `SELECT`, `INSERT`, `CREATE TABLE`, `BATCH SELECT`, `BATCH`…; undefined when no keyword was found. */
  readonly operation: string | undefined;
  /** The one table the statement is about, when the statement makes that clear. */
  readonly collection: string | undefined;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** Number of statements in the text (`;`-separated, empty ones not counted). */
  readonly statements: number;
}

// Character classes
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === 36;
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
const isHex = (c: number): boolean => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

const enum Tok { Word, Quoted, Literal, Placeholder, Punct }

/** Keywords after which a `-` starts a negative number rather than a subtraction. */
const UNARY_AFTER = new Set(['SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'THEN', 'ELSE', 'WHEN', 'VALUES', 'SET', 'BETWEEN',
  'IN', 'LIKE', 'IS', 'BY', 'LIMIT', 'OFFSET', 'CASE', 'ON', 'HAVING', 'RETURN', 'INTERVAL', 'DEFAULT', 'ARRAY']);

/** Words that end a table reference in a single-table statement. */
const CLAUSE_END = new Set(['WHERE', 'GROUP', 'ORDER', 'LIMIT', 'HAVING', 'OFFSET', 'FOR', 'WINDOW', 'FETCH', 'SET',
  'VALUES', 'SELECT', 'RETURNING', 'ON', 'DEFAULT', 'OUTPUT', 'LOCK', 'PARTITION', 'USE', 'IGNORE', 'FORCE', 'TABLESAMPLE']);
const MULTI_TABLE = new Set(['JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'CROSS', 'NATURAL', 'STRAIGHT_JOIN', 'USING',
  'UNION', 'INTERSECT', 'EXCEPT', 'FROM', 'OUTER', 'LATERAL']);
const DDL_OBJECTS = new Set(['TABLE', 'INDEX', 'VIEW', 'DATABASE', 'SCHEMA', 'SEQUENCE', 'FUNCTION', 'PROCEDURE',
  'TRIGGER', 'USER', 'ROLE', 'EXTENSION', 'TYPE', 'MATERIALIZED', 'TEMPORARY', 'TEMP', 'UNIQUE', 'OR', 'EVENT']);

interface Token { kind: Tok; text: string; upper: string }

const MAX_TOKENS = 160;

/**
 * Everything the statement analysis needs: significant tokens at parenthesis depth 0 (a `(` token marks
 * where a parenthesised group was), and whether FROM/JOIN appears inside parentheses (a subquery reads
 * another table).
 */
class Scan {
  readonly tokens: Token[] = [];
  nestedFrom = false;
  overflow = false;
  /** The first word at any depth: the operation of `(SELECT …)`. */
  firstWord: string | undefined;
  push(kind: Tok, text: string): void {
    if (this.tokens.length >= MAX_TOKENS) { this.overflow = true; return; }
    this.tokens.push({ kind, text, upper: kind === Tok.Word ? text.toUpperCase() : text });
  }
}

const TRACEPARENT_RE = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function commentValue(comment: string, key: string): string | undefined {
  const i = comment.indexOf(`${key}=`);
  if (i < 0) return undefined;
  const prev = i > 0 ? comment.charCodeAt(i - 1) : 32;
  if (isIdentPart(prev)) return undefined;
  let j = i + key.length + 1;
  const quote = comment.charCodeAt(j);
  let end: number;
  if (quote === 39 || quote === 34) {
    j++;
    end = comment.indexOf(String.fromCharCode(quote), j);
    if (end < 0) return undefined;
  } else {
    end = j;
    while (end < comment.length && comment.charCodeAt(end) !== 44 && !isSpace(comment.charCodeAt(end))) end++;
  }
  const raw = comment.slice(j, end);
  try { return decodeURIComponent(raw); } catch { return raw; }
}

interface Result { text: string; scan: Scan; traceparent: string | undefined; tracestate: string | undefined }

function scanSql(sql: string, d: SqlDialect, keepLiterals: boolean): Result {
  const n = sql.length;
  const scan = new Scan();
  let out = '';
  let space = false; // whitespace or a comment since the last emitted token
  let depth = 0;
  let prevKind: Tok | -1 = -1;
  let prevText = '';
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  let i = 0;

  const emit = (kind: Tok, text: string): void => {
    if (space && out.length > 0 && !(kind === Tok.Punct && (text === ';' || text === ',' || text === ')'))) out += ' ';
    space = false;
    out += text;
    prevKind = kind;
    prevText = text;
  };
  const onComment = (body: string): void => {
    if (body.includes('traceparent=')) {
      const tp = commentValue(body, 'traceparent');
      if (tp !== undefined && TRACEPARENT_RE.test(tp)) {
        traceparent = tp;
        tracestate = commentValue(body, 'tracestate');
      }
    }
  };
  const unaryContext = (): boolean => {
    if (prevKind === -1) return true;
    if (prevKind === Tok.Punct) return prevText !== ')' && prevText !== ']';
    if (prevKind === Tok.Word) return UNARY_AFTER.has(prevText.toUpperCase());
    return false;
  };
  const literal = (start: number, end: number): void => {
    emit(Tok.Literal, keepLiterals ? sql.slice(start, end) : '?');
    if (depth === 0) scan.push(Tok.Literal, '?');
  };

  while (i < n) {
    const c = sql.charCodeAt(i);
    // whitespace
    if (isSpace(c)) { space = true; i++; continue; }
    // -- comment / # comment
    if ((c === 45 && sql.charCodeAt(i + 1) === 45) || (c === 35 && d.hashComments)) {
      let j = i + (c === 35 ? 1 : 2);
      while (j < n && sql.charCodeAt(j) !== 10) j++;
      onComment(sql.slice(i, j));
      if (keepLiterals) emit(Tok.Punct, sql.slice(i, j)); else space = true;
      i = j;
      continue;
    }
    // /* comment */
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let j = i + 2;
      let level = 1;
      while (j < n) {
        const x = sql.charCodeAt(j);
        if (x === 42 && sql.charCodeAt(j + 1) === 47) { level--; j += 2; if (level === 0 || !d.nestedComments) break; continue; }
        if (d.nestedComments && x === 47 && sql.charCodeAt(j + 1) === 42) { level++; j += 2; continue; }
        j++;
      }
      onComment(sql.slice(i, Math.min(j, n)));
      if (keepLiterals) emit(Tok.Punct, sql.slice(i, Math.min(j, n))); else space = true;
      i = j;
      continue;
    }
    // string literals, with an optional one-letter prefix: E'…' N'…' B'…' X'…' (and U&'…')
    let quoteAt = -1;
    let backslash = d.backslashEscapes;
    if (c === 39) quoteAt = i;
    else if (c === 34 && d.doubleQuotedStrings) quoteAt = i;
    else if ((c | 32) === 101 && sql.charCodeAt(i + 1) === 39 && !d.backslashEscapes) { quoteAt = i + 1; backslash = true; }
    else if (((c | 32) === 110 || (c | 32) === 98 || (c | 32) === 120) && sql.charCodeAt(i + 1) === 39) quoteAt = i + 1;
    else if ((c | 32) === 117 && sql.charCodeAt(i + 1) === 38 && sql.charCodeAt(i + 2) === 39) quoteAt = i + 2;
    if (quoteAt >= 0) {
      const q = sql.charCodeAt(quoteAt);
      let j = quoteAt + 1;
      while (j < n) {
        const x = sql.charCodeAt(j);
        if (backslash && x === 92) { j += 2; continue; }
        if (x === q) {
          if (sql.charCodeAt(j + 1) === q) { j += 2; continue; } // doubled quote
          j++;
          break;
        }
        j++;
      }
      literal(i, Math.min(j, n));
      i = j;
      continue;
    }
    // dollar quotes and $n placeholders
    if (c === 36 && d.dollarQuotes) {
      if (isDigit(sql.charCodeAt(i + 1))) {
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        emit(Tok.Placeholder, sql.slice(i, j));
        if (depth === 0) scan.push(Tok.Placeholder, '?');
        i = j;
        continue;
      }
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
      if (sql.charCodeAt(j) === 36) {
        const tag = sql.slice(i, j + 1);
        const close = sql.indexOf(tag, j + 1);
        const end = close < 0 ? n : close + tag.length;
        literal(i, end);
        i = end;
        continue;
      }
    }
    // numbers (a leading '-' in unary position belongs to the number)
    const negative = c === 45 && (isDigit(sql.charCodeAt(i + 1)) || (sql.charCodeAt(i + 1) === 46 && isDigit(sql.charCodeAt(i + 2)))) && unaryContext();
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1))) || negative) {
      let j = negative ? i + 1 : i;
      if (sql.charCodeAt(j) === 48 && ((sql.charCodeAt(j + 1) | 32) === 120) && isHex(sql.charCodeAt(j + 2))) {
        j += 2;
        while (j < n && isHex(sql.charCodeAt(j))) j++;
      } else if (sql.charCodeAt(j) === 48 && ((sql.charCodeAt(j + 1) | 32) === 98) && (sql.charCodeAt(j + 2) === 48 || sql.charCodeAt(j + 2) === 49)) {
        j += 2;
        while (j < n && (sql.charCodeAt(j) === 48 || sql.charCodeAt(j) === 49)) j++;
      } else {
        while (j < n && (isDigit(sql.charCodeAt(j)) || sql.charCodeAt(j) === 95)) j++;
        if (sql.charCodeAt(j) === 46) { j++; while (j < n && isDigit(sql.charCodeAt(j))) j++; }
        if ((sql.charCodeAt(j) | 32) === 101) {
          let k = j + 1;
          if (sql.charCodeAt(k) === 43 || sql.charCodeAt(k) === 45) k++;
          if (isDigit(sql.charCodeAt(k))) { j = k; while (j < n && isDigit(sql.charCodeAt(j))) j++; }
        }
      }
      // a number glued to letters (1abc) is an identifier in MySQL: keep it whole
      if (j < n && isIdentStart(sql.charCodeAt(j)) && !negative) {
        while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
        emit(Tok.Word, sql.slice(i, j));
        if (depth === 0) scan.push(Tok.Word, sql.slice(i, j));
      } else {
        literal(i, j);
      }
      i = j;
      continue;
    }
    // words (identifiers, keywords, TRUE/FALSE/NULL stay)
    if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      const w = sql.slice(i, j);
      emit(Tok.Word, w);
      if (scan.firstWord === undefined) scan.firstWord = w.toUpperCase();
      if (depth === 0) scan.push(Tok.Word, w);
      else if (!scan.nestedFrom && w.length === 4 && (w.toUpperCase() === 'FROM' || w.toUpperCase() === 'JOIN')) scan.nestedFrom = true;
      i = j;
      continue;
    }
    // quoted identifiers: "x" (PostgreSQL) and `x` (MySQL)
    if (c === 34 || c === 96) {
      let j = i + 1;
      while (j < n) {
        if (sql.charCodeAt(j) === c) { if (sql.charCodeAt(j + 1) === c) { j += 2; continue; } j++; break; }
        j++;
      }
      const text = sql.slice(i, Math.min(j, n));
      emit(Tok.Quoted, text);
      if (depth === 0) scan.push(Tok.Quoted, text.slice(1, text.length - (text.length > 1 && text.charCodeAt(text.length - 1) === c ? 1 : 0)));
      i = j;
      continue;
    }
    // placeholders: ? and :name (not :: casts)
    if (c === 63) { emit(Tok.Placeholder, '?'); if (depth === 0) scan.push(Tok.Placeholder, '?'); i++; continue; }
    if (c === 58 && isIdentStart(sql.charCodeAt(i + 1)) && sql.charCodeAt(i - 1) !== 58) {
      let j = i + 1;
      while (j < n && isIdentPart(sql.charCodeAt(j))) j++;
      emit(Tok.Placeholder, sql.slice(i, j));
      if (depth === 0) scan.push(Tok.Placeholder, '?');
      i = j;
      continue;
    }
    // punctuation
    if (c === 40) { if (depth === 0) scan.push(Tok.Punct, '('); depth++; }
    else if (c === 41) { if (depth > 0) depth--; }
    else if (depth === 0 && (c === 44 || c === 46 || c === 59)) scan.push(Tok.Punct, sql[i]);
    emit(Tok.Punct, sql[i]);
    i++;
  }
  return { text: out, scan, traceparent, tracestate };
}

const IN_LIST_RE = /\b(IN)\s*\(\s*\?(?:\s*,\s*\?)+\s*\)/gi;
const VALUES_RE = /\b(VALUES)\s*(\((?:\s*\?\s*,)*\s*\?\s*\))(?:\s*,\s*\2)+/gi;

function collapse(text: string): string {
  if (text.indexOf('?') < 0) return text;
  let t = text;
  if (/\bIN\s*\(/i.test(t)) t = t.replace(IN_LIST_RE, '$1 (?)');
  if (/\bVALUES\b/i.test(t)) t = t.replace(VALUES_RE, '$1 $2');
  return t;
}

interface StatementInfo { op: string | undefined; table: string | undefined }

/** A qualified name starting at tokens[i]: a.b.c. Returns [name, next index] or undefined. */
function qualifiedName(t: readonly Token[], i: number): [string, number] | undefined {
  const first = t[i];
  if (first === undefined || (first.kind !== Tok.Word && first.kind !== Tok.Quoted)) return undefined;
  let name = first.text;
  let j = i + 1;
  while (t[j]?.text === '.' && t[j]?.kind === Tok.Punct && (t[j + 1]?.kind === Tok.Word || t[j + 1]?.kind === Tok.Quoted)) {
    name += `.${t[j + 1].text}`;
    j += 2;
  }
  return [name, j];
}

/** After a table name: an optional alias, then the end of the statement or a clause keyword. */
function singleTableAfter(t: readonly Token[], j: number): boolean {
  let k = j;
  if (t[k]?.upper === 'AS') k++;
  if (t[k] !== undefined && (t[k].kind === Tok.Word || t[k].kind === Tok.Quoted) && !CLAUSE_END.has(t[k].upper) && !MULTI_TABLE.has(t[k].upper)) k++;
  const next = t[k];
  if (next === undefined) return true;
  if (next.kind === Tok.Punct) return next.text === '(' || next.text === ';';
  if (next.kind !== Tok.Word) return false;
  if (MULTI_TABLE.has(next.upper)) return false;
  return CLAUSE_END.has(next.upper);
}

/** Only one FROM/JOIN-like keyword at depth 0 in the rest of the statement (the one we used). */
function noOtherTables(t: readonly Token[], from: number): boolean {
  for (let k = from; k < t.length; k++) if (t[k].kind === Tok.Word && MULTI_TABLE.has(t[k].upper)) return false;
  return true;
}

function analyzeStatement(t: readonly Token[], nestedFrom: boolean): StatementInfo {
  let i = 0;
  while (t[i]?.text === '(' && t[i]?.kind === Tok.Punct) i++;
  const first = t[i];
  if (first === undefined || first.kind !== Tok.Word) return { op: undefined, table: undefined };
  let op = first.upper;
  if (op === 'WITH') {
    // WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (…), … <main statement>
    let k = i + 1;
    while (k < t.length && !(t[k].kind === Tok.Word && ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(t[k].upper))) k++;
    if (k >= t.length) return { op: 'WITH', table: undefined };
    i = k;
    op = t[k].upper;
    nestedFrom = true; // the CTEs read tables of their own
  }
  let table: [string, number] | undefined;
  const has = (k: number, w: string): boolean => t[k]?.kind === Tok.Word && t[k].upper === w;
  switch (op) {
    case 'SELECT': {
      let f = i + 1;
      while (f < t.length && !has(f, 'FROM')) {
        if (t[f].kind === Tok.Word && (t[f].upper === 'UNION' || t[f].upper === 'INTO')) return { op, table: undefined };
        f++;
      }
      if (f < t.length) {
        table = qualifiedName(t, f + 1);
        if (table !== undefined && !(singleTableAfter(t, table[1]) && noOtherTables(t, table[1]))) table = undefined;
        if (table !== undefined && t[table[1]]?.text === '(') table = undefined; // FROM func(...)
      }
      break;
    }
    case 'INSERT':
    case 'REPLACE': {
      let k = i + 1;
      while (has(k, 'INTO') || has(k, 'IGNORE') || has(k, 'LOW_PRIORITY') || has(k, 'DELAYED') || has(k, 'HIGH_PRIORITY')) k++;
      table = qualifiedName(t, k);
      if (table !== undefined && !(singleTableAfter(t, table[1]) && noOtherTables(t, table[1]))) table = undefined;
      break;
    }
    case 'UPDATE': {
      let k = i + 1;
      while (has(k, 'ONLY') || has(k, 'LOW_PRIORITY') || has(k, 'IGNORE')) k++;
      table = qualifiedName(t, k);
      if (table !== undefined && !(singleTableAfter(t, table[1]) && noOtherTables(t, table[1]))) table = undefined;
      break;
    }
    case 'DELETE': {
      let k = i + 1;
      while (has(k, 'LOW_PRIORITY') || has(k, 'QUICK') || has(k, 'IGNORE')) k++;
      if (!has(k, 'FROM')) break;
      k++;
      if (has(k, 'ONLY')) k++;
      table = qualifiedName(t, k);
      if (table !== undefined && !(singleTableAfter(t, table[1]) && noOtherTables(t, table[1]))) table = undefined;
      break;
    }
    case 'TRUNCATE': {
      let k = i + 1;
      if (has(k, 'TABLE')) k++;
      if (has(k, 'ONLY')) k++;
      table = qualifiedName(t, k);
      if (table !== undefined && (t[table[1]]?.text === ',' || t[table[1]]?.kind === Tok.Quoted)) table = undefined;
      break;
    }
    case 'CREATE':
    case 'DROP':
    case 'ALTER': {
      let k = i + 1;
      const words: string[] = [op];
      while (k < t.length && t[k].kind === Tok.Word && DDL_OBJECTS.has(t[k].upper) && words.length < 4) {
        if (t[k].upper === 'OR' && has(k + 1, 'REPLACE')) { k += 2; continue; }
        words.push(t[k].upper);
        k++;
      }
      const last = words[words.length - 1];
      op = words.length > 1 ? `${op} ${last}` : op;
      if (last === 'TABLE') {
        if (has(k, 'IF')) { k++; if (has(k, 'NOT')) k++; if (has(k, 'EXISTS')) k++; }
        table = qualifiedName(t, k);
        if (table !== undefined && t[table[1]]?.text === ',') table = undefined;
      }
      return { op, table: table?.[0] };
    }
    default:
      return { op, table: undefined };
  }
  if (nestedFrom) table = undefined;
  return { op, table: table?.[0] };
}

function analyze(scan: Scan): { op: string | undefined; table: string | undefined; statements: number } {
  const t = scan.tokens;
  const stmts: Token[][] = [];
  let cur: Token[] = [];
  for (const tok of t) {
    if (tok.kind === Tok.Punct && tok.text === ';') { if (cur.length > 0) stmts.push(cur); cur = []; continue; }
    cur.push(tok);
  }
  if (cur.length > 0) stmts.push(cur);
  if (stmts.length === 0) return { op: undefined, table: undefined, statements: 0 };
  if (stmts.length === 1) {
    const s = analyzeStatement(stmts[0], scan.nestedFrom);
    return { op: s.op ?? (stmts[0][0]?.text === '(' ? scan.firstWord : undefined), table: s.table, statements: 1 };
  }
  const infos = stmts.map((s) => analyzeStatement(s, scan.nestedFrom));
  const op0 = infos[0].op;
  const sameOp = !scan.overflow && infos.every((x) => x.op === op0);
  const t0 = infos[0].table;
  const sameTable = sameOp && t0 !== undefined && infos.every((x) => x.table === t0);
  return { op: sameOp && op0 !== undefined ? `BATCH ${op0}` : 'BATCH', table: sameTable ? t0 : undefined, statements: stmts.length };
}

// A small process-wide cache: real workloads repeat the same statements (prepared or not) all the time.
const CACHE_MAX = 512;
const CACHE_MAX_TEXT = 4096;
const caches = new Map<string, Map<string, SqlInfo>>();

/** Sanitize and analyze one SQL text. Pure; results are cached per (dialect, keepLiterals, text). */
export function analyzeSql(sql: string, dialect: SqlDialect, keepLiterals = false): SqlInfo {
  const key = `${dialect === POSTGRES_DIALECT ? 'p' : dialect === MYSQL_DIALECT ? 'm' : 'x'}${keepLiterals ? 'k' : 's'}`;
  let cache = caches.get(key);
  if (cache === undefined) { cache = new Map(); caches.set(key, cache); }
  const hit = cache.get(sql);
  if (hit !== undefined) return hit;
  const r = scanSql(sql, dialect, keepLiterals);
  const a = analyze(r.scan);
  const info: SqlInfo = {
    text: keepLiterals ? sql.trim() : collapse(r.text),
    operation: a.op,
    collection: a.table,
    traceparent: r.traceparent,
    tracestate: r.tracestate,
    statements: a.statements,
  };
  if (sql.length <= CACHE_MAX_TEXT && dialect !== undefined) {
    if (cache.size >= CACHE_MAX) { const first = cache.keys().next(); if (first.done !== true) cache.delete(first.value); }
    cache.set(sql, info);
  }
  return info;
}

/** Span name per semconv: `{operation} {collection}`, else `{operation}`, else the system name. */
export function sqlSpanName(info: SqlInfo, system: string): string {
  if (info.operation === undefined) return system;
  return info.collection !== undefined ? `${info.operation} ${info.collection}` : info.operation;
}

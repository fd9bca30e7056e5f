/**
 * Byte helpers for the HTTP/1 parser: case-insensitive comparisons against lowercase ASCII literals,
 * number parsing and string extraction without intermediate copies.
 */

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HT = 9;
export const COLON = 58;

export function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

// Buffer.prototype.latin1Slice works on any Uint8Array receiver and makes one flat one-byte string.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** The bytes [s, e) as a latin1 string (each byte one char: lossless, never throws). */
export function latin1(b: Uint8Array, s: number, e: number): string {
  return e <= s ? '' : latin1Slice.call(b, s, e);
}

/** True when b[s, e) equals `lit` (lowercase letters, digits, '-') ignoring ASCII case. */
export function eqLower(b: Uint8Array, s: number, e: number, lit: Uint8Array): boolean {
  if (e - s !== lit.length) return false;
  for (let i = 0; i < lit.length; i++) {
    const c = b[s + i];
    // fold A-Z only: other bytes must match exactly
    if ((c >= 65 && c <= 90 ? c | 0x20 : c) !== lit[i]) return false;
  }
  return true;
}

/** True when b[s, e) ends with `lit` ignoring ASCII case. */
export function endsWithLower(b: Uint8Array, s: number, e: number, lit: Uint8Array): boolean {
  return e - s >= lit.length && eqLower(b, e - lit.length, e, lit);
}

/** Decimal digits b[s, e) as a number; -1 if empty, not all digits or above 2^53. */
export function parseDec(b: Uint8Array, s: number, e: number): number {
  if (e <= s || e - s > 15) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = b[i] - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Hex value of one byte, or -1. */
export function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Trims optional whitespace: returns the new start; use trimEnd for the end. */
export function trimStart(b: Uint8Array, s: number, e: number): number {
  while (s < e && (b[s] === SP || b[s] === HT)) s++;
  return s;
}

export function trimEnd(b: Uint8Array, s: number, e: number): number {
  while (e > s && (b[e - 1] === SP || b[e - 1] === HT || b[e - 1] === CR)) e--;
  return e;
}

/** True when b[s, e) is a W3C traceparent: `vv-<32 hex>-<16 hex>-ff` (lowercase hex, version not ff). */
export function isTraceparent(b: Uint8Array, s: number, e: number): boolean {
  if (e - s < 55) return false;
  if (b[s + 2] !== 45 || b[s + 35] !== 45 || b[s + 52] !== 45) return false;
  if (e - s > 55 && b[s + 55] !== 45) return false; // future versions may append "-…"
  let zeroTrace = true;
  let zeroSpan = true;
  for (let i = 0; i < 55; i++) {
    if (i === 2 || i === 35 || i === 52) continue;
    const c = b[s + i];
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
    if (c !== 48) {
      if (i > 2 && i < 35) zeroTrace = false;
      else if (i > 35 && i < 52) zeroSpan = false;
    }
  }
  if (b[s] === 102 && b[s + 1] === 102) return false;
  return !zeroTrace && !zeroSpan;
}

// Helpers shared by the probe decoders: u64 reads without BigInt, C strings, addresses.

/** Reads a little-endian u64 as a number (exact below 2^53; ns timestamps stay exact for ~104 days of uptime). */
export function u64(view: DataView, off: number): number {
  return view.getUint32(off + 4, true) * 0x1_0000_0000 + view.getUint32(off, true);
}

/** Reads a NUL-terminated string of at most `max` bytes (ASCII/UTF-8). */
export function cString(view: DataView, off: number, max: number): string {
  const bytes = new Uint8Array(view.buffer, view.byteOffset + off, max);
  let end = bytes.indexOf(0);
  if (end < 0) end = max;
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('utf8');
}

const AF_INET = 2;
const AF_INET6 = 10;

/** Formats an address stored in 16 bytes (IPv4 in the first 4) in network byte order. */
export function formatAddress(view: DataView, off: number, family: number): string {
  if (family === AF_INET) {
    return `${view.getUint8(off)}.${view.getUint8(off + 1)}.${view.getUint8(off + 2)}.${view.getUint8(off + 3)}`;
  }
  if (family !== AF_INET6) return '';
  // IPv4-mapped ::ffff:a.b.c.d is shown as such
  let mapped = true;
  for (let i = 0; i < 10; i++) if (view.getUint8(off + i) !== 0) mapped = false;
  if (mapped && view.getUint16(off + 10) === 0xffff) {
    return `::ffff:${view.getUint8(off + 12)}.${view.getUint8(off + 13)}.${view.getUint8(off + 14)}.${view.getUint8(off + 15)}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(view.getUint16(off + 2 * i));
  // RFC 5952: compress the longest run (>1) of zero groups
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export { AF_INET, AF_INET6 };

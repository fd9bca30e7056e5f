// The kernel's protocol-detector table (bpf/probes/l7.h `struct l7_detector`, rodata
// `targ_detectors`). The kernel compares the first L7_DETECT_LEN bytes of a connection's payload
// segments, masked, with each row in order; the first match names the protocol and from then on
// the connection's segments cross to user space. Rows only need to be a cheap, selective
// pre-filter: the protocol's parser confirms (ProtocolParser.detect) on the first chunk.
//
// Adding a protocol = adding its rows here (and registering its parser). Nothing changes in C.
// Protocol ids are positions in the list of protocols the pipeline registered (1-based), so the
// kernel never sees a name and no id is hand-copied across the boundary.
import { ENUMS, STRUCTS } from '../../../../native/layouts.generated.js';

/** One byte of a signature: an exact value, anything (`null`), or value/mask bits. */
export type SigByte = number | null | { readonly value: number; readonly mask: number };

export interface DetectorRow {
  /** Registry name of the protocol (ProtocolParser.name). */
  readonly protocol: string;
  /** Which way of the protocol the signature matches: client → server, server → client, or either. */
  readonly dir: 'request' | 'response' | 'both';
  /** Up to L7_DETECT_LEN bytes; the segment must be at least this long. */
  readonly bytes: readonly SigByte[];
  /** Why the row looks like this (documentation; not used). */
  readonly note?: string;
}

const ascii = (s: string): SigByte[] => [...s].map((c) => c.charCodeAt(0));
/** ASCII decimal digit 0-9 plus : ; < = > ? (mask 0xf0 = 0x30): enough for a pre-filter. */
const DIGIT: SigByte = { value: 0x30, mask: 0xf0 };
/** 0x00 in the high byte of a big-endian length: the message is shorter than 16 MiB. */
const ZERO = 0x00;

/**
 * The table, in match order. HTTP first (the most common and the most selective; inline `GET /` would
 * otherwise look like memcached/Redis inline commands), then the database protocols in coroot's order
 * (postgres, redis, memcached, mysql). The signatures are those of src/receivers/ebpf/l7/protocols/README.md
 * reduced to 8 masked bytes; lengths the mask cannot express (e.g. pg startup length >= 8, mysql greeting
 * >= 40) are left to the parser's detect(). Not in the kernel table on purpose: Redis inline commands
 * (a word list; redis-cli and every client library send RESP arrays) and server-side replies that are
 * generic (`+OK`, `END\r\n`): connections are recognised from the request side.
 * References: RFC 9112 §3 (request line), PostgreSQL "Message Formats", RESP spec, memcached protocol.txt,
 * MySQL "Client/Server Protocol".
 */
export const DETECTOR_ROWS: readonly DetectorRow[] = [
  ...['GET ', 'POST ', 'PUT ', 'DELETE ', 'HEAD ', 'OPTIONS ', 'PATCH ', 'CONNECT ']
    .map((m): DetectorRow => ({ protocol: 'http', dir: 'request', bytes: ascii(m) })),
  { protocol: 'http', dir: 'request', bytes: ascii('TRACE /') },
  { protocol: 'http', dir: 'response', bytes: ascii('HTTP/1.') },

  // PostgreSQL: StartupMessage / SSLRequest / GSSENCRequest (int32 length < 64 KiB, then 00 03 00 00,
  // 04 d2 16 2f or 04 d2 16 30), then frontend messages with an int32 length < 16 MiB.
  { protocol: 'postgresql', dir: 'request', bytes: [ZERO, ZERO, null, null, 0x00, 0x03, 0x00, 0x00], note: 'StartupMessage v3.0' },
  { protocol: 'postgresql', dir: 'request', bytes: [ZERO, ZERO, ZERO, 0x08, 0x04, 0xd2, 0x16, { value: 0x2f, mask: 0xfe }], note: 'SSLRequest / GSSENCRequest' },
  ...'QPBE'.split('').map((t): DetectorRow => ({ protocol: 'postgresql', dir: 'request', bytes: [t.charCodeAt(0), ZERO], note: 'Query/Parse/Bind/Execute' })),
  { protocol: 'postgresql', dir: 'response', bytes: [0x52, ZERO, ZERO, ZERO], note: 'AuthenticationXXX (R)' },

  // Redis RESP: arrays of bulk strings `*<n>\r\n$` (n < 10 or 10..99).
  { protocol: 'redis', dir: 'request', bytes: [0x2a, DIGIT, 0x0d, 0x0a, 0x24], note: '*N\\r\\n$' },
  { protocol: 'redis', dir: 'request', bytes: [0x2a, DIGIT, DIGIT, 0x0d, 0x0a, 0x24], note: '*NN\\r\\n$' },

  // memcached text protocol (storage and retrieval commands) and the binary protocol's request magic.
  ...['get ', 'gets ', 'set ', 'add ', 'replace ', 'append ', 'prepend ', 'cas ', 'delete ', 'incr ', 'decr ', 'touch ', 'gat ', 'gats ', 'mg ', 'ms ', 'md ', 'ma ', 'me ', 'mn\r\n', 'flush_al', 'version', 'stats', 'verbosit']
    .map((c): DetectorRow => ({ protocol: 'memcached', dir: 'request', bytes: ascii(c) })),
  { protocol: 'memcached', dir: 'request', bytes: [0x80, null, null, null, null, 0x00], note: 'binary request magic, data type 0' },

  // MySQL: packet header (3-byte length < 64 KiB, sequence 0) + command byte; the server greeting (v10).
  ...[0x03, 0x16, 0x17, 0x19, 0x1a, 0x0e, 0x02, 0x09, 0x1f].map((cmd): DetectorRow => ({
    protocol: 'mysql', dir: 'request', bytes: [null, null, ZERO, 0x00, cmd], note: 'COM_QUERY/STMT_PREPARE/EXECUTE/CLOSE/RESET/PING/INIT_DB/STATISTICS/RESET_CONNECTION',
  })),
  { protocol: 'mysql', dir: 'response', bytes: [null, ZERO, ZERO, 0x00, 0x0a], note: 'HandshakeV10 (length < 256, sequence 0)' },
];

/** The rodata image of the table for a given set of registered protocols, and the id → name map. */
export interface DetectorTable {
  /** targ_detectors: L7_DETECTORS_MAX rows of struct l7_detector. */
  readonly rodata: Buffer;
  /** targ_ndetectors. */
  readonly count: number;
  /** protocol id (1-based) → registry name. */
  readonly names: readonly string[];
  /** targ_proto_first / targ_proto_end: each protocol id's rows [first, end) (rows are grouped by protocol). */
  readonly protoFirst: Buffer;
  readonly protoEnd: Buffer;
}

const D = STRUCTS.l7_detector;
const LEN = ENUMS.L7_DETECT_LEN;

/**
 * Builds the kernel table from `rows` for the protocols in `registered` (registry order); rows of
 * protocols that are not registered are left out (their traffic never crosses).
 */
export function buildDetectorTable(registered: readonly string[], rows: readonly DetectorRow[] = DETECTOR_ROWS): DetectorTable {
  const names: string[] = [];
  // grouped by protocol (first appearance order), so each protocol's rows are one range
  const order = [...new Set(rows.map((r) => r.protocol))];
  const keep = rows.filter((r) => registered.includes(r.protocol)).sort((a, b) => order.indexOf(a.protocol) - order.indexOf(b.protocol));
  if (keep.length > ENUMS.L7_DETECTORS_MAX) throw new RangeError(`${keep.length} detector rows; the kernel table holds ${ENUMS.L7_DETECTORS_MAX}`);
  const buf = Buffer.alloc(D.size * ENUMS.L7_DETECTORS_MAX);
  const protoFirst = Buffer.alloc(ENUMS.L7_PROTOCOLS_MAX);
  const protoEnd = Buffer.alloc(ENUMS.L7_PROTOCOLS_MAX);
  keep.forEach((row, i) => {
    if (row.bytes.length < 1 || row.bytes.length > LEN) throw new RangeError(`detector row for ${row.protocol}: 1..${LEN} bytes`);
    let id = names.indexOf(row.protocol) + 1;
    if (id === 0) {
      id = names.push(row.protocol);
      protoFirst[id] = i;
    }
    if (id > 255) throw new RangeError('more than 255 protocols');
    protoEnd[id] = i + 1;
    const o = i * D.size;
    row.bytes.forEach((b, k) => {
      const { value, mask } = b === null ? { value: 0, mask: 0 } : typeof b === 'number' ? { value: b, mask: 0xff } : b;
      buf[o + D.fields.prefix.offset + k] = value & mask;
      buf[o + D.fields.mask.offset + k] = mask;
    });
    buf[o + D.fields.len.offset] = row.bytes.length;
    buf[o + D.fields.protocol.offset] = id;
    buf[o + D.fields.dir.offset] = row.dir === 'request' ? ENUMS.L7_DETECT_REQUEST
      : row.dir === 'response' ? ENUMS.L7_DETECT_RESPONSE : ENUMS.L7_DETECT_REQUEST | ENUMS.L7_DETECT_RESPONSE;
  });
  return { rodata: buf, count: keep.length, names, protoFirst, protoEnd };
}

/**
 * What the kernel does with the table, in TS (tests and fixtures): the first row matching `first`
 * (a segment's first bytes; `length` its real length) for the given direction bits.
 */
export function matchDetector(table: DetectorTable, first: Uint8Array, length: number, dirBits: number): { row: number; protocol: string } | undefined {
  for (let i = 0; i < table.count; i++) {
    const o = i * D.size;
    const b = table.rodata;
    if ((b[o + D.fields.dir.offset] & dirBits) === 0 || length < b[o + D.fields.len.offset]) continue;
    let ok = true;
    for (let k = 0; k < LEN && ok; k++) ok = ((k < first.length ? first[k] : 0) & b[o + D.fields.mask.offset + k]) === b[o + D.fields.prefix.offset + k];
    if (ok) return { row: i, protocol: table.names[b[o + D.fields.protocol.offset] - 1] };
  }
  return undefined;
}

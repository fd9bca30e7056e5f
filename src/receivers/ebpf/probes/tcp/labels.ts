// `addr:port` labels interned by their bytes, so the event path turns a tuple into the label string
// with a Map lookup and no allocation once the destination has been seen. IPv4-mapped IPv6
// addresses are labelled as IPv4 (a dual-stack socket connecting to an IPv4 peer); IPv6 as [addr]:port.
import { AF_INET, AF_INET6, formatAddress } from '../common/decode-util.js';

interface V6Entry {
  bytes: Uint8Array;
  port: number;
  label: string;
}

export class AddrLabels {
  readonly #v4 = new Map<number, string>();
  readonly #v6 = new Map<number, V6Entry[]>();
  #size = 0;
  readonly #max: number;

  constructor(max = 1 << 20) {
    this.#max = max;
  }

  get size(): number {
    return this.#size;
  }

  #bound(): void {
    if (++this.#size > this.#max) {
      this.#v4.clear();
      this.#v6.clear();
      this.#size = 1;
    }
  }

  /** The label of (address at `off` in `view`, network order; port host order). */
  of(view: DataView, off: number, family: number, port: number): string {
    if (family === AF_INET6 && isMapped(view, off)) return this.#ipv4(view.getUint32(off + 12, false), port);
    if (family === AF_INET) return this.#ipv4(view.getUint32(off, false), port);
    if (family !== AF_INET6) return '';
    // FNV-1a over the 16 address bytes and the port
    let h = 0x811c9dc5;
    for (let i = 0; i < 16; i++) h = Math.imul(h ^ view.getUint8(off + i), 0x01000193);
    h = Math.imul(h ^ port, 0x01000193) >>> 0;
    let chain = this.#v6.get(h);
    if (chain) {
      for (const e of chain) {
        if (e.port !== port) continue;
        let same = true;
        for (let i = 0; i < 16 && same; i++) same = e.bytes[i] === view.getUint8(off + i);
        if (same) return e.label;
      }
    } else {
      this.#v6.set(h, (chain = []));
    }
    const bytes = new Uint8Array(16);
    for (let i = 0; i < 16; i++) bytes[i] = view.getUint8(off + i);
    const label = `[${formatAddress(view, off, AF_INET6)}]:${port}`;
    chain.push({ bytes, port, label });
    this.#bound();
    return label;
  }

  /** The label of an address given as 4 or 16 bytes. */
  ofBytes(addr: Uint8Array, family: number, port: number): string {
    const buf = new Uint8Array(16);
    buf.set(addr.subarray(0, family === AF_INET ? 4 : 16));
    return this.of(new DataView(buf.buffer), 0, family, port);
  }

  #ipv4(a: number, port: number): string {
    const key = a * 65536 + port;
    let l = this.#v4.get(key);
    if (l === undefined) {
      l = `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}:${port}`;
      this.#v4.set(key, l);
      this.#bound();
    }
    return l;
  }
}

function isMapped(view: DataView, off: number): boolean {
  for (let i = 0; i < 10; i++) if (view.getUint8(off + i) !== 0) return false;
  return view.getUint16(off + 10) === 0xffff;
}

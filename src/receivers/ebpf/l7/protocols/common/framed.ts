/**
 * A reader for length-prefixed binary protocols (PostgreSQL, MySQL, memcached binary) over captured
 * chunks. It finds message boundaries across chunk splits and capture gaps, hands the protocol each
 * message header plus the first `keep` bytes of its body, and skips the rest without copying. Headers
 * and kept bodies are passed as views into the chunk when they lie in one chunk; only a header or kept
 * body split across chunks is copied, into buffers owned by the reader (allocated once, bounded).
 *
 * When a capture gap swallows a message boundary, the reader is "lost": it stops emitting messages
 * until the protocol's `resync` accepts the start of a later chunk (or a position in it).
 */

export interface FrameProtocol {
  /** Header size at the current position (it may depend on protocol state, e.g. the PostgreSQL startup packet). */
  headerSize(): number;
  /** Body length announced by a complete header at h[off…], or -1 when the header is not valid. */
  bodyLength(h: Uint8Array, off: number): number;
  /** How many leading body bytes the protocol wants to see (0 = none). */
  keep(h: Uint8Array, off: number, bodyLen: number): number;
  /**
   * One message: its header at h[hoff…], the kept body bytes b[boff, boff+blen) (blen < wanted when a gap
   * or the end of the message cut them), the real body length, and the timestamp of the chunk where the
   * message started.
   */
  message(h: Uint8Array, hoff: number, b: Uint8Array, boff: number, blen: number, bodyLen: number, tsNs: number): void;
  /** The stream lost its message boundaries at tsNs. */
  lost(tsNs: number): void;
  /** While lost: offset in b[off, end) where messages start again, or -1 to drop this chunk. */
  resync(b: Uint8Array, off: number, end: number, length: number): number;
}

const enum State { Header, Keep, Skip, Lost }

export class FramedReader {
  readonly #p: FrameProtocol;
  readonly #maxKeep: number;
  #state = State.Header;
  readonly #hdr = new Uint8Array(32);
  #hdrLen = 0;
  #keepBuf: Uint8Array | null = null;
  #keepLen = 0;
  #want = 0;
  #bodyLen = 0;
  #remaining = 0; // body bytes not yet consumed (Keep and Skip)
  #startTs = 0;

  constructor(p: FrameProtocol, maxKeep: number) {
    this.#p = p;
    this.#maxKeep = Math.max(16, maxKeep);
  }

  get isLost(): boolean { return this.#state === State.Lost; }

  /** The next byte fed starts a message header. */
  get atBoundary(): boolean { return this.#state === State.Header && this.#hdrLen === 0; }

  /** Forget the current position: the next chunk starts a message (used after a request/response resync). */
  reset(): void {
    this.#state = State.Header;
    this.#hdrLen = 0;
    this.#keepLen = 0;
  }

  markLost(tsNs: number): void {
    if (this.#state === State.Lost) return;
    this.#state = State.Lost;
    this.#hdrLen = 0;
    this.#keepLen = 0;
    this.#p.lost(tsNs);
  }

  /** A chunk: `b` holds its first captured bytes, `length` is its real size. */
  feed(b: Uint8Array, length: number, tsNs: number): void {
    let off = 0;
    const end = b.length;
    if (this.#state === State.Lost) {
      const at = this.#p.resync(b, 0, end, length);
      if (at < 0) return;
      this.#state = State.Header;
      off = at;
    }
    while (off < end) {
      switch (this.#state as State) {
        case State.Header: {
          const hs = this.#p.headerSize();
          if (this.#hdrLen === 0 && end - off >= hs) {
            off = this.#begin(b, off, hs, b, off + hs, end, tsNs);
          } else {
            if (this.#hdrLen === 0) this.#startTs = tsNs;
            const n = Math.min(hs - this.#hdrLen, end - off);
            this.#hdr.set(b.subarray(off, off + n), this.#hdrLen);
            this.#hdrLen += n;
            off += n;
            if (this.#hdrLen === hs) {
              this.#hdrLen = 0;
              off = this.#begin(this.#hdr, 0, hs, b, off, end, this.#startTs);
            }
          }
          break;
        }
        case State.Keep: {
          const n = Math.min(this.#want - this.#keepLen, end - off);
          this.#keepBuf!.set(b.subarray(off, off + n), this.#keepLen);
          this.#keepLen += n;
          this.#remaining -= n;
          off += n;
          if (this.#keepLen === this.#want) {
            this.#p.message(this.#hdr, 0, this.#keepBuf!, 0, this.#keepLen, this.#bodyLen, this.#startTs);
            this.#keepLen = 0;
            this.#state = this.#remaining > 0 ? State.Skip : State.Header;
          }
          break;
        }
        case State.Skip: {
          const n = Math.min(this.#remaining, end - off);
          this.#remaining -= n;
          off += n;
          if (this.#remaining === 0) this.#state = State.Header;
          break;
        }
        case State.Lost:
          return;
      }
    }
    const gap = length - end;
    if (gap > 0) this.#gap(gap, tsNs);
  }

  /**
   * A complete header is at h[hoff, hoff+hs); body bytes follow at b[off, end). Returns the new offset in b.
   */
  #begin(h: Uint8Array, hoff: number, hs: number, b: Uint8Array, off: number, end: number, tsNs: number): number {
    const bodyLen = this.#p.bodyLength(h, hoff);
    if (bodyLen < 0) {
      this.markLost(tsNs);
      return end;
    }
    const want = Math.min(this.#p.keep(h, hoff, bodyLen), bodyLen, this.#maxKeep);
    if (want <= end - off) {
      // the kept part is in this chunk: no copy
      this.#p.message(h, hoff, b, off, want, bodyLen, tsNs);
      const inChunk = Math.min(bodyLen, end - off);
      this.#remaining = bodyLen - inChunk;
      this.#state = this.#remaining > 0 ? State.Skip : State.Header;
      return off + inChunk;
    }
    // the kept part continues in later chunks: remember the header, copy what is here
    if (h !== this.#hdr) this.#hdr.set(h.subarray(hoff, hoff + hs), 0);
    else if (hoff !== 0) this.#hdr.copyWithin(0, hoff, hoff + hs);
    if (this.#keepBuf === null || this.#keepBuf.length < want) this.#keepBuf = new Uint8Array(Math.min(this.#maxKeep, Math.max(want, 256)));
    const n = end - off;
    this.#keepBuf.set(b.subarray(off, end), 0);
    this.#keepLen = n;
    this.#want = want;
    this.#bodyLen = bodyLen;
    this.#remaining = bodyLen - n;
    this.#startTs = tsNs;
    this.#state = State.Keep;
    return end;
  }

  #gap(n: number, tsNs: number): void {
    switch (this.#state) {
      case State.Keep:
        // the kept bytes end here: deliver what we have
        this.#p.message(this.#hdr, 0, this.#keepBuf!, 0, this.#keepLen, this.#bodyLen, this.#startTs);
        this.#keepLen = 0;
        this.#state = State.Skip;
        // falls through to skipping
        if (n <= this.#remaining) { this.#remaining -= n; if (this.#remaining === 0) this.#state = State.Header; return; }
        this.markLost(tsNs);
        return;
      case State.Skip:
        if (n <= this.#remaining) { this.#remaining -= n; if (this.#remaining === 0) this.#state = State.Header; return; }
        this.markLost(tsNs);
        return;
      case State.Header:
        this.markLost(tsNs);
        return;
      case State.Lost:
        return;
    }
  }
}

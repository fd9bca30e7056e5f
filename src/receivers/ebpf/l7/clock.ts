import type { HrTime } from '@opentelemetry/api';

/**
 * Kernel timestamps (`bpf_ktime_get_ns`, CLOCK_MONOTONIC, ns since boot, not counting suspend) to wall-clock
 * HrTime. Node's `process.hrtime` reads the same clock, so the offset is `wall − monotonic` sampled in this
 * process. `Date.now()` only has millisecond resolution: sampling right after it ticks to a new millisecond
 * pins the offset to within a few µs. Refresh it periodically (NTP slews the wall clock, CLOCK_MONOTONIC
 * is slewed too but the two drift apart by small amounts; a suspend stops CLOCK_MONOTONIC).
 */
export interface WallClock {
  /** Wall-clock time for a kernel monotonic timestamp. */
  toHrTime(monoNs: number): HrTime;
  /** Current monotonic time in ns (same clock as the kernel's timestamps). */
  nowMonoNs(): number;
}

export interface ClockSources {
  /** Milliseconds since the epoch (Date.now). */
  wallMs(): number;
  /** CLOCK_MONOTONIC in ns (process.hrtime.bigint). */
  monoNs(): bigint;
}

const REAL: ClockSources = { wallMs: () => Date.now(), monoNs: () => process.hrtime.bigint() };

export class ClockOffset implements WallClock {
  readonly #src: ClockSources;
  /** offset = wall − mono, split into whole seconds and ns (wall ns do not fit in a double exactly). */
  #offS = 0;
  #offNs = 0;
  #measuredAtMono = 0;

  constructor(src: ClockSources = REAL) {
    this.#src = src;
    this.refresh();
  }

  /**
   * Measures the offset: waits (at most ~1 ms of spinning) for Date.now() to tick, and takes the monotonic
   * time read right after the tick. Call on an interval (e.g. every 60 s).
   */
  refresh(): void {
    const src = this.#src;
    let ms = src.wallMs();
    let mono = src.monoNs();
    const start = ms;
    for (let i = 0; i < 1_000_000; i++) {
      const m = src.wallMs();
      if (m !== start) {
        mono = src.monoNs();
        ms = m;
        break;
      }
    }
    const wallNs = BigInt(ms) * 1_000_000n;
    const off = wallNs - mono;
    const s = off / 1_000_000_000n;
    let ns = off - s * 1_000_000_000n;
    let sec = s;
    if (ns < 0n) {
      ns += 1_000_000_000n;
      sec -= 1n;
    }
    this.#offS = Number(sec);
    this.#offNs = Number(ns);
    this.#measuredAtMono = Number(mono);
  }

  /** The current offset in ns (wall − mono), as a bigint (for tests and diagnostics). */
  offsetNs(): bigint {
    return BigInt(this.#offS) * 1_000_000_000n + BigInt(this.#offNs);
  }

  /** Monotonic ns of the last refresh. */
  measuredAtMonoNs(): number {
    return this.#measuredAtMono;
  }

  nowMonoNs(): number {
    return Number(this.#src.monoNs());
  }

  toHrTime(monoNs: number): HrTime {
    return [this.wallSeconds(monoNs), this.wallNanos(monoNs)];
  }

  /** toHrTime(monoNs)[0] without the array. */
  wallSeconds(monoNs: number): number {
    const s = Math.floor(monoNs / 1e9);
    return s + this.#offS + (Math.round(monoNs - s * 1e9) + this.#offNs >= 1e9 ? 1 : 0);
  }

  /** toHrTime(monoNs)[1] without the array. */
  wallNanos(monoNs: number): number {
    const s = Math.floor(monoNs / 1e9);
    const ns = Math.round(monoNs - s * 1e9) + this.#offNs;
    return ns >= 1e9 ? ns - 1e9 : ns;
  }
}

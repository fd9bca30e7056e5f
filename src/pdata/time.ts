import type { HrTime } from '@opentelemetry/api';

/** Wall-clock now as HrTime. */
export function nowHrTime(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

/** Milliseconds since the epoch as HrTime. */
export function msToHrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

/** Nanoseconds (a double; exact to the ns below 2^53, i.e. for monotonic clocks up to ~104 days) to HrTime. */
export function nsToHrTime(ns: number): HrTime {
  const s = Math.floor(ns / 1e9);
  return [s, Math.round(ns - s * 1e9)];
}

export function hrTimeToMs(t: HrTime): number {
  return t[0] * 1000 + t[1] / 1e6;
}

export function hrTimeToNsString(t: HrTime): string {
  return (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();
}

// The agent's CPU scheduling: every thread of the process (the JS thread, libuv's pool, V8's platform
// and GC threads) at one policy and nice value (`service.scheduling`). Threads created later inherit it
// from the thread that creates them. Restored on shutdown for threads that are still there.
//
// What it is for (BENCHMARKS.md, "Scheduling the agent"): on a node whose CPUs the workloads need, the
// agent's parsing competes with them. `idle` (SCHED_IDLE) runs the agent only on CPU time nothing else
// wants: the workloads' request latency stays within noise of no agent, but when the CPUs are saturated
// the agent falls behind and the kernel drops its records (counted:
// sonde_ebpf_kernel_events_lost_total{reason="ringbuf_full"}). `nice` 10 is in between. `normal` (the
// default) keeps every record while the agent gets its fair share.
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import type { SchedulingConfig } from '../config/resolve.js';
import type { NativeBinding } from '../native/binding.js';
import { loadNative } from '../native/load.js';
import type { Logger } from './logger.js';

export const POLICIES: Record<SchedulingConfig['policy'], number> = { normal: 0, batch: 3, idle: 5 };

/** Applying the policy or nice value failed (e.g. EPERM for a negative nice without CAP_SYS_NICE). */
export class SchedulingError extends Error {
  override readonly name = 'SchedulingError';
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

type SchedBinding = Pick<NativeBinding, 'getSchedPolicy' | 'setSchedPolicy'>;

export interface SchedulingOptions {
  /** the native addon (sched_setscheduler); loaded on first need when absent */
  readonly native?: SchedBinding;
}

const gone = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ESRCH' || (e as { errno?: number }).errno === 3;

export class ProcessScheduling {
  readonly #cfg: SchedulingConfig;
  readonly #opts: SchedulingOptions;
  #native?: SchedBinding;
  /** tid → what it had before apply() */
  readonly #saved = new Map<number, { policy: number; nice: number }>();

  constructor(cfg: SchedulingConfig, opts: SchedulingOptions = {}) {
    this.#cfg = cfg;
    this.#opts = opts;
  }

  /** True when the config asks for anything but the default. */
  get active(): boolean {
    return this.#cfg.policy !== 'normal' || this.#cfg.nice !== 0;
  }

  #binding(): SchedBinding {
    this.#native ??= this.#opts.native ?? loadNative();
    return this.#native;
  }

  #tids(): number[] {
    return readdirSync('/proc/self/task').map(Number).filter((t) => Number.isInteger(t) && t > 0);
  }

  /** Every current thread to the configured policy and nice value. Returns how many threads it set. */
  apply(logger?: Logger): number {
    if (!this.active) return 0;
    const policy = POLICIES[this.#cfg.policy];
    const native = policy !== 0 ? this.#binding() : undefined;
    let n = 0;
    for (const tid of this.#tids()) {
      try {
        const before = { policy: native ? native.getSchedPolicy(tid) : 0, nice: getPriority(tid) };
        if (native) native.setSchedPolicy(tid, policy);
        if (policy !== POLICIES.idle) setPriority(tid, this.#cfg.nice);
        if (!this.#saved.has(tid)) this.#saved.set(tid, before);
        n++;
      } catch (e) {
        if (gone(e)) continue; // the thread exited while we walked the list
        this.restore();
        throw new SchedulingError(`service.scheduling: cannot set policy ${this.#cfg.policy} / nice ${this.#cfg.nice} on thread ${tid}: ${(e as Error).message}`, e);
      }
    }
    logger?.info('scheduling applied', { policy: this.#cfg.policy, nice: this.#cfg.nice, threads: n });
    return n;
  }

  /** Puts back what apply() found, on the threads that still exist. Idempotent; never throws. */
  restore(): void {
    for (const [tid, before] of this.#saved) {
      try {
        if (this.#native && before.policy !== this.#native.getSchedPolicy(tid)) this.#native.setSchedPolicy(tid, before.policy);
        setPriority(tid, before.nice);
      } catch {
        // gone, or not permitted back (a lower nice needs CAP_SYS_NICE): leave it
      }
    }
    this.#saved.clear();
  }
}

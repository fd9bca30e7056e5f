// Environment checks with remedies, run before loading probes: privileges, kernel BTF,
// tracefs (classic tracepoints only), RLIMIT_MEMLOCK (kernels < 5.11 only).
// With `fix: true` the fixable ones are fixed (mount tracefs, raise the memlock limit).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { NativeBinding } from './binding.js';
import { NotSupportedError, PERMISSION_REMEDY, PermissionError } from './errors.js';

export type CheckName = 'privileges' | 'btf' | 'tracefs' | 'memlock';

export interface EnvironmentCheck {
  name: CheckName;
  ok: boolean;
  detail: string;
  remedy?: string;
  /** the check failed first and `fix` repaired it */
  fixed?: boolean;
}

export interface EnvironmentOptions {
  native?: NativeBinding;
  /** default /sys/kernel/btf/vmlinux; pass the btfCustomPath you will open objects with */
  btfPath?: string;
  /** check tracefs (only classic tracepoints need it); default false */
  needTracefs?: boolean;
  tracefsPath?: string;
  /** mount tracefs / raise RLIMIT_MEMLOCK when needed and possible; default false */
  fix?: boolean;
  /** injectable for tests */
  procRoot?: string;
  kernelRelease?: string;
}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

function effectiveCaps(procRoot: string): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`${procRoot}/self/status`, 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

const has = (caps: bigint, bit: bigint): boolean => ((caps >> bit) & 1n) === 1n;

export function checkPrivileges(procRoot = '/proc'): EnvironmentCheck {
  const caps = effectiveCaps(procRoot);
  if (caps === null) return { name: 'privileges', ok: false, detail: `cannot read ${procRoot}/self/status`, remedy: PERMISSION_REMEDY };
  const ok = has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON));
  return ok
    ? { name: 'privileges', ok, detail: `effective capabilities 0x${caps.toString(16)}` }
    : { name: 'privileges', ok, detail: `missing CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN): effective capabilities 0x${caps.toString(16)}`, remedy: PERMISSION_REMEDY };
}

export function checkBtf(path = '/sys/kernel/btf/vmlinux'): EnvironmentCheck {
  return existsSync(path)
    ? { name: 'btf', ok: true, detail: `kernel BTF at ${path}` }
    : {
      name: 'btf', ok: false, detail: `no kernel BTF at ${path}`,
      remedy: 'CO-RE needs kernel BTF: use a kernel built with CONFIG_DEBUG_INFO_BTF=y, or pass a BTF file for this kernel (btfCustomPath, e.g. from btfhub)',
    };
}

function tracefsMounted(procRoot: string, path: string): boolean {
  try {
    return readFileSync(`${procRoot}/mounts`, 'utf8').split('\n').some((l) => {
      const [, mnt, type] = l.split(' ');
      return type === 'tracefs' && (mnt === path || mnt === '/sys/kernel/debug/tracing');
    });
  } catch {
    return false;
  }
}

export function checkTracefs(opts: { path?: string; fix?: boolean; procRoot?: string } = {}): EnvironmentCheck {
  const path = opts.path ?? '/sys/kernel/tracing';
  const procRoot = opts.procRoot ?? '/proc';
  if (tracefsMounted(procRoot, path)) return { name: 'tracefs', ok: true, detail: `tracefs mounted at ${path}` };
  const remedy = `mount it: mount -t tracefs nodev ${path} (or add it to /etc/fstab; in a container, mount the host's /sys/kernel/tracing)`;
  if (!opts.fix) return { name: 'tracefs', ok: false, detail: `tracefs is not mounted at ${path}`, remedy };
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', path], { encoding: 'utf8' });
  if (r.status === 0 && tracefsMounted(procRoot, path)) return { name: 'tracefs', ok: true, fixed: true, detail: `mounted tracefs at ${path}` };
  return { name: 'tracefs', ok: false, detail: `tracefs is not mounted at ${path} and mounting failed: ${(r.stderr || String(r.error ?? '')).trim()}`, remedy };
}

function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

const MEMLOCK_NEEDED = 128 * 1024 * 1024;

export function checkMemlock(opts: { native?: NativeBinding; fix?: boolean; kernelRelease?: string } = {}): EnvironmentCheck {
  const rel = opts.kernelRelease ?? release();
  if (kernelAtLeast(rel, 5, 11)) return { name: 'memlock', ok: true, detail: `kernel ${rel} charges BPF memory to the memory cgroup; RLIMIT_MEMLOCK does not apply` };
  if (!opts.native) return { name: 'memlock', ok: false, detail: 'cannot read RLIMIT_MEMLOCK without the native addon' };
  const lim = opts.native.getMemlockLimit();
  if (lim.soft >= MEMLOCK_NEEDED) return { name: 'memlock', ok: true, detail: `RLIMIT_MEMLOCK ${lim.soft}` };
  const remedy = 'raise it: run with CAP_SYS_RESOURCE, `ulimit -l unlimited`, LimitMEMLOCK=infinity (systemd) or --ulimit memlock=-1 (docker)';
  if (opts.fix) {
    try {
      opts.native.setMemlockLimit(Infinity);
      return { name: 'memlock', ok: true, fixed: true, detail: `raised RLIMIT_MEMLOCK from ${lim.soft} to unlimited` };
    } catch (e) {
      return { name: 'memlock', ok: false, detail: `RLIMIT_MEMLOCK ${lim.soft} is low and raising it failed: ${(e as Error).message}`, remedy };
    }
  }
  return { name: 'memlock', ok: false, detail: `RLIMIT_MEMLOCK ${lim.soft} is below ${MEMLOCK_NEEDED} on kernel ${rel}`, remedy };
}

export function checkEnvironment(opts: EnvironmentOptions = {}): EnvironmentCheck[] {
  const procRoot = opts.procRoot ?? '/proc';
  const out = [checkPrivileges(procRoot), checkBtf(opts.btfPath)];
  if (opts.needTracefs) out.push(checkTracefs({ path: opts.tracefsPath, fix: opts.fix, procRoot }));
  out.push(checkMemlock({ native: opts.native, fix: opts.fix, kernelRelease: opts.kernelRelease }));
  return out;
}

/** Throws the typed error for the first failed check. */
export function assertEnvironment(opts: EnvironmentOptions = {}): EnvironmentCheck[] {
  const checks = checkEnvironment(opts);
  const bad = checks.find((c) => !c.ok);
  if (!bad) return checks;
  const fields = { code: bad.name === 'privileges' ? 'EPERM' : 'ENOTSUP', errno: 0, op: `check:${bad.name}`, remedy: bad.remedy };
  if (bad.name === 'privileges' || bad.name === 'memlock') throw new PermissionError(bad.detail, fields);
  throw new NotSupportedError(bad.detail, { ...fields, feature: bad.name === 'btf' ? 'BTF' : 'tracefs' });
}

// Helpers for end-to-end tests on the real kernel (root, BPF, network namespaces).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkPrivileges } from '../../src/native/env.js';
import { bpfObjectPath } from './paths.js';

/** Why e2e tests cannot run here, or undefined when they can. Printed by the skip. */
export function e2eSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'e2e tests need Linux';
  if (process.getuid?.() !== 0 && !checkPrivileges().ok) return 'e2e tests need root or CAP_BPF+CAP_PERFMON (they load BPF programs and create network namespaces)';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'e2e tests need kernel BTF (/sys/kernel/btf/vmlinux)';
  for (const o of ['process', 'tcp']) if (!existsSync(bpfObjectPath(o))) return `missing ${bpfObjectPath(o)}: run npm run build:bpf`;
  return undefined;
}

export function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}

/** Polls cond every 20 ms until true or the deadline; returns the last value of cond(). */
export async function waitFor(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(20);
  }
  return cond();
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** resolves with stdout lines as they come */
  line(): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export function startChild(cmd: string, args: string[]): Child {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const lines: string[] = [];
  const waiters: ((l: string) => void)[] = [];
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    partial += d;
    let i: number;
    while ((i = partial.indexOf('\n')) >= 0) {
      const l = partial.slice(0, i);
      partial = partial.slice(i + 1);
      const w = waiters.shift();
      if (w) w(l); else lines.push(l);
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    proc, pid: proc.pid!, exited,
    line: () => new Promise<string>((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) return resolve(l);
      waiters.push(resolve);
      void exited.then((r) => reject(new Error(`child exited (${r.code}/${r.signal}) before printing a line: ${r.stderr}`)));
    }),
  };
}

/** Runs node with an inline ES module. */
export function nodeChild(code: string, prefix: string[] = []): Child {
  const args = [...prefix.slice(1), process.execPath, '--input-type=module', '-e', code];
  return prefix.length ? startChild(prefix[0], args) : startChild(process.execPath, ['--input-type=module', '-e', code]);
}

/**
 * A network namespace joined to the host by a veth pair: host side <prefix>.1/30, namespace
 * side <prefix>.2/30. Traffic stays on this machine. Removed by destroy().
 */
export class TestNetns {
  readonly name: string;
  readonly hostIf: string;
  readonly hostAddr: string;
  readonly nsAddr: string;
  constructor(tag: string, subnet: number) {
    const id = `${tag}${process.pid % 10000}`;
    this.name = `sonde-${id}`;
    this.hostIf = `sh${id}`.slice(0, 15);
    const nsIf = `sn${id}`.slice(0, 15);
    this.hostAddr = `10.231.${subnet}.1`;
    this.nsAddr = `10.231.${subnet}.2`;
    this.destroy();
    sh('ip', ['netns', 'add', this.name]);
    sh('ip', ['link', 'add', this.hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    sh('ip', ['link', 'set', nsIf, 'netns', this.name]);
    sh('ip', ['addr', 'add', `${this.hostAddr}/30`, 'dev', this.hostIf]);
    sh('ip', ['link', 'set', this.hostIf, 'up']);
    this.exec('ip', ['addr', 'add', `${this.nsAddr}/30`, 'dev', nsIf]);
    this.exec('ip', ['link', 'set', nsIf, 'up']);
    this.exec('ip', ['link', 'set', 'lo', 'up']);
  }
  exec(cmd: string, args: string[]): string {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }
  /** Command prefix that runs a program inside the namespace. */
  get prefix(): string[] {
    return ['ip', 'netns', 'exec', this.name];
  }
  destroy(): void {
    spawnSync('ip', ['link', 'del', this.hostIf]);
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}

// A server that a peer helper owns: temp dir + one foreground process, (re)started on the same
// ports, readiness-checked, torn down idempotently.
import { join } from 'node:path';
import { LOOPBACK, PeerProcess, makeTempDir, removeTempDir, retryOnPortClash, waitReady } from './proc.js';
import type { RestartablePeer, SpawnSpec } from './proc.js';

export interface ServerSpec {
  /** Called on every (re)start: the command line for the server, in the foreground. */
  spawn(): SpawnSpec;
  /** Protocol-level readiness check; true when the server answers properly. Errors count as "not yet". */
  ready(): Promise<boolean>;
  readyTimeoutMs?: number;
  /** Runs before each spawn (e.g. start a helper the server needs). */
  beforeStart?(): Promise<void>;
  /** Runs once after the first successful start (e.g. create a database); a failure stops the server. */
  init?(): Promise<void>;
  /** Extra clean-up after each process stop (e.g. a helper daemon the server started). */
  afterHalt?(): Promise<void>;
}

export class ManagedServer {
  readonly name: string;
  readonly dir: string;
  readonly logFile: string;
  private readonly spec: ServerSpec;
  private proc: PeerProcess | undefined;
  private stopping: Promise<void> | undefined;

  constructor(name: string, dir: string, spec: ServerSpec) {
    this.name = name;
    this.dir = dir;
    this.spec = spec;
    this.logFile = join(dir, `${name}.log`);
  }

  get pid(): number {
    return this.proc?.pid ?? -1;
  }

  get running(): boolean {
    return this.proc !== undefined && !this.proc.hasExited;
  }

  async start(): Promise<void> {
    if (this.stopping !== undefined) throw new Error(`${this.name}: already stopped`);
    if (this.running) return;
    try {
      await this.spec.beforeStart?.();
      const proc = new PeerProcess(this.spec.spawn(), this.logFile);
      this.proc = proc;
      await waitReady(this.name, proc, () => this.spec.ready(), { timeoutMs: this.spec.readyTimeoutMs ?? 30_000 });
    } catch (e) {
      await this.halt();
      throw e;
    }
  }

  async halt(): Promise<void> {
    const proc = this.proc;
    if (proc !== undefined) await proc.stop();
    await this.spec.afterHalt?.();
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.start();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.halt();
      } finally {
        removeTempDir(this.dir);
      }
    })();
    return this.stopping;
  }

  /** The fields every peer handle shares; peers Object.assign their own fields onto it. */
  handle(): RestartablePeer {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    return {
      host: LOOPBACK,
      get pid() { return self.pid; },
      dir: self.dir,
      logFile: self.logFile,
      get running() { return self.running; },
      stop: () => self.stop(),
      halt: () => self.halt(),
      restart: () => self.restart(),
    };
  }
}

/**
 * Make a temp dir, let `build` pick ports and write config into it, start the server and wait until
 * it is ready. If the server lost a race for its port, start over with new ports (3 tries).
 */
export function startServer(name: string, build: (dir: string) => Promise<ServerSpec> | ServerSpec): Promise<ManagedServer> {
  return retryOnPortClash(3, async () => {
    const dir = makeTempDir(name);
    let server: ManagedServer | undefined;
    try {
      const spec = await build(dir);
      server = new ManagedServer(name, dir, spec);
      await server.start();
      await spec.init?.();
      return server;
    } catch (e) {
      if (server !== undefined) await server.stop();
      else removeTempDir(dir);
      throw e;
    }
  });
}

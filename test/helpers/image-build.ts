// The container image's build stage, run for real on this host: the build context (the repository's
// files minus .dockerignore, as `docker build` would send them) is copied to a throwaway directory and
// deploy/docker/build.sh runs there with the libbpf crate that the Dockerfile's cargo stage fetches
// (`cargo fetch --locked`, here with the host's cargo). The staged runtime tree (what the final stage
// copies to /opt/sonde) is cached outside the repo, keyed by the context's content and the Node version.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { dockerignoreMatcher } from './dockerfile.js';
import { ROOT } from './paths.js';

function cacheRoot(): string {
  const x = process.env.XDG_CACHE_HOME;
  return join(x !== undefined && x !== '' ? x : join(homedir(), '.cache'), 'sonde');
}

/** The build context's files (relative paths): tracked and new files of the checkout, minus .dockerignore. */
export function contextFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ignored = dockerignoreMatcher(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
  return out.split('\0').filter((f) => f !== '' && !ignored(f) && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile()).sort();
}

export function cargoBinary(): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), join(homedir(), '.cargo', 'bin')]) {
    if (dir !== '' && existsSync(join(dir, 'cargo'))) return join(dir, 'cargo');
  }
  return undefined;
}

/** The Dockerfile's libbpf-src stage: `cargo fetch --locked` of the pinned crate; returns the .crate file. */
export function fetchLibbpfCrate(): string {
  const cargo = cargoBinary();
  if (!cargo) throw new Error('cargo not found (rustup\'s ~/.cargo/bin or PATH)');
  execFileSync(cargo, ['fetch', '--locked', '--manifest-path', join(ROOT, 'native/deps/libbpf-src/Cargo.toml')], { stdio: 'pipe' });
  const home = process.env.CARGO_HOME ?? join(homedir(), '.cargo');
  const lock = readFileSync(join(ROOT, 'native/deps/libbpf-src/Cargo.lock'), 'utf8');
  const version = /name = "libbpf-sys"\nversion = "([^"]+)"/.exec(lock)![1];
  for (const reg of readdirSync(join(home, 'registry', 'cache'))) {
    const f = join(home, 'registry', 'cache', reg, `libbpf-sys-${version}.crate`);
    if (existsSync(f)) return f;
  }
  throw new Error(`libbpf-sys-${version}.crate not in ${home}/registry/cache after cargo fetch`);
}

export interface ImageTree {
  /** the build context copy the script ran in */
  contextDir: string;
  /** the staged runtime tree (the image's /opt/sonde) */
  out: string;
  built: boolean;
  ms: number;
  log: string;
}

/** A digest of the build context's paths and contents. */
export function contextKey(files = contextFiles()): string {
  const hash = createHash('sha256');
  for (const f of files) hash.update(f).update('\0').update(readFileSync(join(ROOT, f))).update('\0');
  return hash.digest('hex');
}

/** Copies the build context (as `docker build` would send it) to `dest`, keeping executable bits. */
export function copyContext(dest: string, files = contextFiles()): void {
  for (const f of files) {
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dest, f));
    if (statSync(join(ROOT, f)).mode & 0o111) execFileSync('chmod', ['+x', join(dest, f)]);
  }
}

/** Builds (or reuses) the runtime tree with deploy/docker/build.sh in a copy of the build context. */
export function buildImageTree(): ImageTree {
  const t0 = Date.now();
  const files = contextFiles();
  const hash = createHash('sha256').update(contextKey(files));
  hash.update(process.version).update(process.arch);
  const dir = join(cacheRoot(), `image-tree-${hash.digest('hex').slice(0, 16)}`);
  const done = join(dir, '.complete');
  if (existsSync(done)) return { contextDir: join(dir, 'context'), out: join(dir, 'out'), built: false, ms: Date.now() - t0, log: readFileSync(done, 'utf8') };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const ctx = join(tmp, 'context');
  copyContext(ctx, files);
  const crate = fetchLibbpfCrate();
  const env: NodeJS.ProcessEnv = { ...process.env, LIBBPF_CRATE: crate };
  delete env.npm_config_nodedir; // the script picks the node headers next to the node binary, as in the image
  const r = spawnSync('sh', [join(ctx, 'deploy/docker/build.sh'), join(tmp, 'out')], { cwd: ctx, env, encoding: 'utf8', timeout: 30 * 60_000, maxBuffer: 64 << 20 });
  const log = `${r.stdout}${r.stderr}`;
  if (r.status !== 0) throw new Error(`deploy/docker/build.sh failed (${r.status}) in ${ctx}:\n${log.slice(-4000)}`);
  writeFileSync(join(tmp, '.complete'), log);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { contextDir: join(dir, 'context'), out: join(dir, 'out'), built: true, ms: Date.now() - t0, log };
}

/** Bytes under a directory (files' apparent sizes, like `du -sb`). */
export function treeBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += treeBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

// The Dockerfile built without a container engine (root, debootstrap): each stage's base image is
// emulated as a Debian bookworm root filesystem (debootstrap --variant=minbase, slimmed the way the
// official debian:*-slim images are), plus Node 20 at /usr/local as in node:*-bookworm-slim (the host's
// node 20 build, same version as the Dockerfile pins) or the host's Rust toolchain as in rust:*-slim.
// Then every instruction of every stage is applied in order, for real: RUN runs `/bin/sh -c` in a chroot
// of the stage (apt-get against the Debian mirror, npm ci against the registry, cargo fetch against
// crates.io, the build script), COPY copies from the build context or an earlier stage, ENV/ARG/WORKDIR
// are honoured. The result is the final stage's root filesystem, whose size is the image size estimate.
// Not emulated: image layers/caching, the exact official base images (their digests), BuildKit mounts.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import type { Dockerfile, Stage } from './dockerfile.js';
import { substitute } from './dockerfile.js';

const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';

function cacheRoot(): string {
  const x = process.env.XDG_CACHE_HOME;
  return join(x !== undefined && x !== '' ? x : join(homedir(), '.cache'), 'sonde');
}

export function emulationUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (debootstrap, chroot)';
  if (spawnSync('debootstrap', ['--version']).status !== 0) return 'needs debootstrap (apt-get install debootstrap)';
  return undefined;
}

const sh = (script: string, opts: { timeoutMs?: number } = {}): string => {
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: opts.timeoutMs ?? 60 * 60_000 });
  if (r.status !== 0) throw new Error(`failed (${r.status}):\n${script.slice(0, 2000)}\n--- output ---\n${`${r.stdout}${r.stderr}`.slice(-6000)}`);
  return `${r.stdout}${r.stderr}`;
};
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** debian:bookworm-slim, emulated: minbase + the slim image's dpkg excludes and apt settings. Cached per day. */
export function debianSlim(): string {
  const day = new Date().toISOString().slice(0, 10);
  const dir = join(cacheRoot(), `rootfs-${SUITE}-slim-${day}`);
  if (existsSync(join(dir, '.complete'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync('debootstrap', ['--variant=minbase', SUITE, tmp, MIRROR], { stdio: 'pipe', timeout: 30 * 60_000 });
  // what debuerreotype does for the official -slim images
  writeFileSync(join(tmp, 'etc/dpkg/dpkg.cfg.d/docker'), [
    'path-exclude /usr/share/doc/*', 'path-include /usr/share/doc/*/copyright', 'path-exclude /usr/share/man/*',
    'path-exclude /usr/share/groff/*', 'path-exclude /usr/share/info/*', 'path-exclude /usr/share/lintian/*',
    'path-exclude /usr/share/linda/*', 'path-exclude /usr/share/locale/*', 'path-include /usr/share/locale/locale.alias', '',
  ].join('\n'));
  writeFileSync(join(tmp, 'etc/apt/apt.conf.d/docker-clean'), [
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };',
    'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";', '',
  ].join('\n'));
  writeFileSync(join(tmp, 'etc/apt/apt.conf.d/docker-no-languages'), 'Acquire::Languages "none";\n');
  rmSync(join(tmp, 'etc/apt/sources.list'), { force: true });
  writeFileSync(join(tmp, 'etc/apt/sources.list.d/debian.sources'), [
    `Types: deb\nURIs: ${MIRROR}\nSuites: ${SUITE} ${SUITE}-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
    `Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: ${SUITE}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  ].join('\n'));
  sh(`cd ${q(tmp)} && rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/* usr/share/doc/*/[!c]* usr/share/man/* usr/share/info/* && find usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +`);
  writeFileSync(join(tmp, '.complete'), `debootstrap ${SUITE} minbase ${day}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/** What an image reference becomes here: a root filesystem and the image's ENV. */
interface BaseImage { rootfs: string; env: Record<string, string>; binds: Array<{ src: string; dst: string }> }

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function baseImage(image: string, into: string): BaseImage {
  const m = /^(node|rust):(\d+\.\d+\.\d+)-(bookworm-slim|slim-bookworm)$/.exec(image);
  if (!m) throw new Error(`no emulation for base image ${image}`);
  mkdirSync(into, { recursive: true });
  execFileSync('cp', ['-a', `${debianSlim()}/.`, into]); // device nodes, owners and links as they are
  rmSync(join(into, '.complete'));
  if (m[1] === 'node') {
    const hostVersion = process.version.slice(1);
    if (hostVersion !== m[2]) throw new Error(`${image}: the host's node is ${hostVersion}; the emulation copies the host's build`);
    const nodeBin = execFileSync('readlink', ['-f', process.execPath], { encoding: 'utf8' }).trim();
    const prefix = dirname(dirname(nodeBin));
    mkdirSync(join(into, 'usr/local/bin'), { recursive: true });
    mkdirSync(join(into, 'usr/local/lib/node_modules'), { recursive: true });
    mkdirSync(join(into, 'usr/local/include'), { recursive: true });
    cpSync(nodeBin, join(into, 'usr/local/bin/node'));
    cpSync(join(prefix, 'include/node'), join(into, 'usr/local/include/node'), { recursive: true });
    for (const mod of ['npm', 'corepack']) {
      if (existsSync(join(prefix, 'lib/node_modules', mod))) cpSync(join(prefix, 'lib/node_modules', mod), join(into, 'usr/local/lib/node_modules', mod), { recursive: true, verbatimSymlinks: true });
    }
    sh(`cd ${q(join(into, 'usr/local/bin'))} && ln -s ../lib/node_modules/npm/bin/npm-cli.js npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js npx && { [ -d ../lib/node_modules/corepack ] && ln -s ../lib/node_modules/corepack/dist/corepack.js corepack || true; }`);
    return { rootfs: into, env: { PATH: BASE_PATH, NODE_VERSION: m[2] }, binds: [] };
  }
  // rust: the host's rustup toolchain bound read-only at the image's RUSTUP_HOME, cargo's proxies on PATH
  const rustup = join(homedir(), '.rustup');
  const cargoBin = join(homedir(), '.cargo', 'bin');
  if (!existsSync(rustup) || !existsSync(cargoBin)) throw new Error(`${image}: needs the host's rustup toolchain (~/.rustup, ~/.cargo/bin)`);
  mkdirSync(join(into, 'usr/local/rustup'), { recursive: true });
  mkdirSync(join(into, 'usr/local/cargo/bin'), { recursive: true });
  // the rust image ships CA certificates (cargo talks HTTPS to crates.io)
  runInChroot(into, { PATH: BASE_PATH, DEBIAN_FRONTEND: 'noninteractive' }, '/', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates >/dev/null && rm -rf /var/lib/apt/lists/*', []);
  return {
    rootfs: into,
    env: { PATH: `/usr/local/cargo/bin:${BASE_PATH}`, RUSTUP_HOME: '/usr/local/rustup', CARGO_HOME: '/usr/local/cargo', RUST_VERSION: m[2] },
    binds: [{ src: rustup, dst: '/usr/local/rustup' }, { src: cargoBin, dst: '/usr/local/cargo/bin' }],
  };
}

const HOST_CA_ENV = ['SSL_CERT_FILE', 'CARGO_HTTP_CAINFO', 'NODE_EXTRA_CA_CERTS', 'CURL_CA_BUNDLE'].map((k) => `${k}=/run/host-ca/ca.crt`).join(' ');

/** `/bin/sh -c cmd` in a chroot of `root` with /proc, /dev, /sys and the host's DNS, in `workdir`. */
function runInChroot(root: string, env: Record<string, string>, workdir: string, cmd: string, binds: Array<{ src: string; dst: string }>): string {
  const lines = [
    'set -e', `R=${q(root)}`,
    'mount -t proc proc "$R/proc"', 'mount --rbind /dev "$R/dev"', 'mount --rbind /sys "$R/sys"',
    'cp -L /etc/resolv.conf "$R/etc/resolv.conf"',
    // this host's trust store for the registries (it may sit behind a TLS-intercepting proxy), on a tmpfs
    // that disappears with the RUN: nothing of it stays in the stage
    'mkdir -p "$R/run/host-ca" && mount -t tmpfs tmpfs "$R/run/host-ca" && cp -L /etc/ssl/certs/ca-certificates.crt "$R/run/host-ca/ca.crt"',
    ...binds.map((b) => `mkdir -p "$R${b.dst}" && mount --bind ${q(b.src)} "$R${b.dst}" && mount -o remount,bind,ro "$R${b.dst}"`),
    `mkdir -p "$R${workdir}"`,
    `exec chroot "$R" /usr/bin/env -i HOME=/root ${HOST_CA_ENV} ${Object.entries(env).map(([k, v]) => q(`${k}=${v}`)).join(' ')} /bin/sh -c ${q(`cd ${workdir} && ${cmd}`)}`,
  ];
  return sh(lines.join('\n'));
}

export interface EmulatedImage {
  /** stage name (or index) → its root filesystem */
  stages: Map<string, string>;
  final: string;
  env: Record<string, string>;
  log: string[];
  built: boolean;
  ms: number;
}

/**
 * Builds the Dockerfile's stages into directories under the cache, keyed by the Dockerfile, the build
 * context's content, the host's node and the day (the Debian mirror moves).
 */
export function emulateBuild(df: Dockerfile, dockerfileText: string, contextDir: string, contextKey: string): EmulatedImage {
  const t0 = Date.now();
  const day = new Date().toISOString().slice(0, 10);
  const key = createHash('sha256').update(dockerfileText).update(contextKey).update(process.version).update(day).digest('hex').slice(0, 16);
  const dir = join(cacheRoot(), `image-emulation-${key}`);
  const names = df.stages.map((s) => s.name ?? String(s.index));
  const finalName = names.at(-1)!;
  if (existsSync(join(dir, '.complete'))) {
    const saved = JSON.parse(readFileSync(join(dir, '.complete'), 'utf8')) as { env: Record<string, string>; log: string[] };
    return { stages: new Map(names.map((n) => [n, join(dir, n)])), final: join(dir, finalName), env: saved.env, log: saved.log, built: false, ms: Date.now() - t0 };
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const stages = new Map<string, string>();
  const log: string[] = [];
  let finalEnv: Record<string, string> = {};
  for (const stage of df.stages) {
    const name = stage.name ?? String(stage.index);
    const root = join(tmp, name);
    const base = baseImage(stage.image, root);
    stages.set(name, root);
    const env: Record<string, string> = { ...base.env };
    const args: Record<string, string> = {};
    let workdir = '/';
    log.push(`FROM ${stage.image} → ${root}`);
    for (const ins of stage.instructions.slice(1)) {
      const vars = { ...df.globalArgs, ...args, ...env };
      switch (ins.cmd) {
        case 'ARG': {
          const [k, ...v] = ins.rest.split('=');
          args[k.trim()] = v.join('=');
          break;
        }
        case 'ENV':
          for (const m of ins.rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = substitute(m[2].replace(/^"|"$/g, ''), vars);
          break;
        case 'WORKDIR':
          workdir = posix.resolve(workdir, substitute(ins.rest, vars));
          mkdirSync(join(root, workdir), { recursive: true });
          break;
        case 'RUN': {
          const t = Date.now();
          const out = runInChroot(root, { ...args, ...env }, workdir, ins.rest, base.binds);
          log.push(`RUN (${name}, ${Date.now() - t} ms) ${ins.rest.slice(0, 120)}${out.trim() ? `\n    ${out.trim().split('\n').slice(-3).join('\n    ')}` : ''}`);
          break;
        }
        case 'COPY': {
          const parts = ins.json ?? ins.rest.split(/\s+/);
          const dstRaw = substitute(parts.at(-1)!, vars);
          const dst = posix.resolve(workdir, dstRaw);
          const fromRoot = ins.flags.from !== undefined ? stages.get(ins.flags.from) : contextDir;
          if (fromRoot === undefined) throw new Error(`COPY --from=${ins.flags.from}: unknown stage`);
          for (const srcRaw of parts.slice(0, -1)) {
            const src = join(fromRoot, ins.flags.from !== undefined ? srcRaw : srcRaw.replace(/^\.\/?/, ''));
            if (!existsSync(src)) throw new Error(`COPY ${srcRaw}: not found in ${ins.flags.from ?? 'the build context'}`);
            const isDir = statSync(src).isDirectory();
            // Docker: a directory's contents go into dst; a file goes to dst, or into it when dst ends with /
            const target = isDir || !(dstRaw.endsWith('/') || dstRaw === '.') ? join(root, dst) : join(root, dst, posix.basename(srcRaw));
            mkdirSync(isDir ? target : dirname(target), { recursive: true });
            execFileSync('cp', ['-a', isDir ? `${src}/.` : src, target]);
            if (ins.flags.chown !== undefined) execFileSync('chown', ['-R', ins.flags.chown, target]);
          }
          log.push(`COPY ${ins.raw}`);
          break;
        }
        default:
          log.push(`${ins.cmd} ${ins.raw}`); // metadata only (USER, EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD, SHELL, LABEL)
      }
    }
    finalEnv = env;
  }
  writeFileSync(join(tmp, '.complete'), JSON.stringify({ env: finalEnv, log }));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { stages: new Map(names.map((n) => [n, join(dir, n)])), final: join(dir, finalName), env: finalEnv, log, built: true, ms: Date.now() - t0 };
}

/** Apparent size and gzip'd tar size of a root filesystem (what a registry would store for it as one layer). */
export function rootfsSize(root: string): { bytes: number; gzipBytes: number } {
  const bytes = Number(execFileSync('du', ['-sb', '--apparent-size', root], { encoding: 'utf8' }).split('\t')[0]);
  const gz = execFileSync('sh', ['-c', `tar --numeric-owner -C ${q(root)} -cf - . | gzip -6 | wc -c`], { encoding: 'utf8', maxBuffer: 1 << 20 });
  return { bytes, gzipBytes: Number(gz.trim()) };
}

export type { Stage };

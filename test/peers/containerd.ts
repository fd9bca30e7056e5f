// containerd 1.6 + runc (Debian) with the CRI plugin, in a temp dir with its own socket, for container
// attribution tests (test-peers.md §4). Images are built locally as OCI tarballs (busybox-static and a
// static pause binary) and imported into namespace k8s.io; pods are driven through CRI (runtime.v1) with a
// hand-written proto subset, so containers carry the kubelet's labels exactly as in a cluster.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { CRI_PROTO } from './cri-proto.js';
import type { PeerBase } from './proc.js';
import { pollUntil } from './proc.js';
import { startServer } from './server.js';

export const CONTAINERD_BIN = '/usr/bin/containerd';
export const CTR_BIN = '/usr/bin/ctr';

/** Why the containerd peer cannot run here, or undefined when it can. */
export function containerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (containerd, runc, cgroups)';
  for (const b of [CONTAINERD_BIN, CTR_BIN, '/usr/sbin/runc', '/bin/busybox']) if (!existsSync(b)) return `${b} missing (apt-get install $(cat scripts/apt-packages-containers.txt))`;
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'gcc missing (builds the static pause binary)';
  }
  return undefined;
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Packs `rootfs` (a directory) as a one-layer OCI image archive named `name` (reproducible tar), ready for
 * `ctr images import`. Returns the archive path.
 */
export function buildOciImage(work: string, rootfs: string, name: string, config: { Cmd?: string[]; Entrypoint?: string[] }): string {
  const out = join(work, `${name.replace(/[^a-z0-9]/gi, '_')}-oci`);
  const blobs = join(out, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const layerTar = join(work, `${name.replace(/[^a-z0-9]/gi, '_')}-layer.tar`);
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', rootfs, '-cf', layerTar, '.']);
  const layer = readFileSync(layerTar);
  const diffId = sha256(layer);
  const gz = execFileSync('gzip', ['-n', '-c', layerTar], { maxBuffer: 64 << 20 });
  const layerDigest = sha256(gz);
  writeFileSync(join(blobs, layerDigest), gz);
  const cfg = Buffer.from(JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
    config: { Env: ['PATH=/bin'], ...config },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
  }));
  const cfgDigest = sha256(cfg);
  writeFileSync(join(blobs, cfgDigest), cfg);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${cfgDigest}`, size: cfg.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${layerDigest}`, size: gz.length }],
  }));
  const mDigest = sha256(manifest);
  writeFileSync(join(blobs, mDigest), manifest);
  writeFileSync(join(out, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${mDigest}`, size: manifest.length, annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': name.split(':').pop() } }],
  }));
  writeFileSync(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const archive = `${out}.tar`;
  execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-C', out, '-cf', archive, '.']);
  return archive;
}

/** busybox-static with one symlink per applet, /etc/passwd and empty mount points. */
export function busyboxRootfs(dir: string): string {
  const root = join(dir, 'rootfs-busybox');
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  return root;
}

const PAUSE_C = `#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
static void quit(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction q = { .sa_handler = quit }, r = { .sa_handler = reap, .sa_flags = SA_NOCLDSTOP };
  sigaction(SIGINT, &q, 0); sigaction(SIGTERM, &q, 0); sigaction(SIGCHLD, &r, 0);
  for (;;) pause();
}
`;

/** A static pause binary (SIGINT/SIGTERM → exit 0, SIGCHLD reaper, pause() loop), like Kubernetes' own. */
export function pauseRootfs(dir: string): string {
  const root = join(dir, 'rootfs-pause');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(dir, 'pause.c'), PAUSE_C);
  execFileSync('gcc', ['-Os', '-static', '-o', join(root, 'pause'), join(dir, 'pause.c')]);
  return root;
}

export interface CriClients {
  readonly runtime: grpc.Client & Record<string, unknown>;
  readonly image: grpc.Client & Record<string, unknown>;
}

export interface ContainerdPeer extends PeerBase {
  readonly socket: string;
  readonly cri: CriClients;
  /** Unary CRI call. */
  call<T>(service: 'runtime' | 'image', method: string, req: unknown): Promise<T>;
  ctr(args: string[]): string;
  readonly busyboxImage: string;
  readonly pauseImage: string;
}

function criDefinition(): grpc.GrpcObject {
  const root = protobuf.parse(CRI_PROTO, { keepCase: true }).root;
  return grpc.loadPackageDefinition(protoLoader.fromJSON(root.toJSON(), { keepCase: true, longs: String, enums: String, defaults: true }));
}

export async function startContainerd(): Promise<ContainerdPeer> {
  let socket = '';
  const server = await startServer('containerd', async (dir) => {
    socket = join(dir, 'containerd.sock');
    mkdirSync(join(dir, 'cni'), { recursive: true });
    const toml = `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[metrics]
  address = ""
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${dir}/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "localhost/pause:local"
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "${dir}/cni"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
`;
    writeFileSync(join(dir, 'config.toml'), toml);
    return {
      spawn: () => ({ cmd: CONTAINERD_BIN, args: ['--config', join(dir, 'config.toml')], stopSignal: 'SIGTERM', stopTimeoutMs: 10_000 }),
      ready: async () => {
        try {
          execFileSync(CTR_BIN, ['-a', socket, 'version'], { stdio: 'ignore', timeout: 2000 });
          return true;
        } catch {
          return false;
        }
      },
    };
  });
  const dir = server.dir;
  const def = criDefinition() as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor; ImageService: grpc.ServiceClientConstructor } } };
  const runtime = new def.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, unknown>;
  const image = new def.runtime.v1.ImageService(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, unknown>;
  const call = <T>(svc: 'runtime' | 'image', method: string, req: unknown): Promise<T> => new Promise((resolve, reject) => {
    const c = svc === 'runtime' ? runtime : image;
    (c[method] as (r: unknown, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: T) => void) => void).call(c, req, { deadline: Date.now() + 60_000 }, (e, r) => (e ? reject(e) : resolve(r)));
  });
  const ctr = (args: string[]) => execFileSync(CTR_BIN, ['-a', socket, ...args], { encoding: 'utf8', timeout: 60_000 });

  // Images: built here, imported into k8s.io (nothing can be pulled).
  const work = join(dir, 'images');
  mkdirSync(work, { recursive: true });
  const busyboxImage = 'localhost/busybox:local';
  const pauseImage = 'localhost/pause:local';
  ctr(['-n', 'k8s.io', 'images', 'import', '--no-unpack', buildOciImage(work, busyboxRootfs(work), busyboxImage, { Cmd: ['/bin/sh'] })]);
  ctr(['-n', 'k8s.io', 'images', 'import', '--no-unpack', buildOciImage(work, pauseRootfs(work), pauseImage, { Entrypoint: ['/pause'] })]);
  await pollUntil('CRI sees the images', async () => {
    const r = await call<{ images: Array<{ repo_tags: string[] }> }>('image', 'ListImages', {});
    const tags = r.images.flatMap((i) => i.repo_tags);
    return tags.includes(busyboxImage) && tags.includes(pauseImage);
  }, 20_000, 200);

  const handle = server.handle();
  return Object.assign({}, {
    host: handle.host, dir, logFile: handle.logFile,
    get pid() { return handle.pid; },
    stop: async () => {
      runtime.close();
      image.close();
      await server.stop();
    },
  }, { socket, cri: { runtime, image }, call, ctr, busyboxImage, pauseImage });
}

/** Files under `dir` (debugging aid for failed runs). */
export function listTree(dir: string, depth = 2): string[] {
  const out: string[] = [];
  const walk = (d: string, n: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      out.push(join(d, e.name));
      if (e.isDirectory() && n > 0) walk(join(d, e.name), n - 1);
    }
  };
  walk(dir, depth);
  return out;
}

// Runs the rendered DaemonSet's container on this host without a container engine, as close to what
// the kubelet + containerd + runc would do as a test can get (root):
//   - the root filesystem: the image's final stage applied to a tmpfs — the OS from the host (/usr
//     read-only, a few /etc files), `COPY --from=build /opt/sonde` = the tree deploy/docker/build.sh
//     staged, the other COPYs from the build context — remounted read-only when
//     readOnlyRootFilesystem is set;
//   - the pod's volumes at their mountPaths: hostPath as recursive binds (read-only when readOnly),
//     configMap/secret keys as files, emptyDir as tmpfs, the service account token projection;
//   - a fresh /proc (hostPID: the host's pid namespace), a read-only sysfs, minimal /dev;
//   - a cgroup of its own (like a pod's container) and a private cgroup namespace (containerd's
//     default on cgroup v2); a private mount namespace; the host network (hostNetwork);
//   - the securityContext: uid/gid, capabilities (drop ALL + add → the bounding set, hence
//     permitted/effective of uid 0), no_new_privs for allowPrivilegeEscalation: false;
//   - the environment: image ENV, container env (value, downward API fieldRef), envFrom secrets,
//     the service variables the kubelet injects (KUBERNETES_SERVICE_HOST/PORT), HOSTNAME;
//   - the command: the image's ENTRYPOINT + (container args, else the image's CMD), in WORKDIR.
// Not emulated: seccomp and AppArmor profiles, the container's own cgroupfs mount, user namespaces,
// resource limits (only accounted), image pulls.
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ImageContract, Stage } from './dockerfile.js';
import type { TestCgroup } from './cgroups.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered Kubernetes objects

export interface PodEmulationOptions {
  /** the rendered DaemonSet (its pod template's first container runs) */
  daemonSet: Obj;
  /** rendered ConfigMaps and Secrets by name (configMap/secret volumes, envFrom) */
  configMaps: Map<string, Obj>;
  secrets?: Map<string, Obj>;
  /** the image: final stage of the Dockerfile, its contract, the build context and the staged build output */
  stage: Stage;
  contract: ImageContract;
  contextDir: string;
  /** `COPY --from=<stage> <src>` → a host directory holding that stage's output */
  stageOutputs: Record<string, string>;
  /** scratch directory (the rootfs is a tmpfs mounted on a directory under it) */
  workDir: string;
  nodeName: string;
  /** the container's cgroup; the pod process joins it before entering its namespaces */
  cgroup: TestCgroup;
  /** hostPath path → the host directory to bind instead (e.g. /run → a directory with a test runtime's socket) */
  hostPathOverrides?: Record<string, string>;
  /** binds done first inside the private mount namespace (e.g. a runtime socket into an override directory) */
  preBinds?: Array<{ src: string; dst: string }>;
  /**
   * The image's root filesystem, already built (test/helpers/image-emulation.ts): used as the container's
   * root (an overlay with a tmpfs on top) instead of the host's /usr plus the final stage's COPYs.
   */
  imageRoot?: string;
  /** the projected service account volume: token, ca.crt, namespace */
  serviceAccount?: { token: string; caCrt: string; namespace: string };
  /** what the kubelet injects for the `kubernetes` Service */
  apiServer?: { host: string; port: number };
}

export interface EmulatedPod {
  proc: ChildProcess;
  pid: number;
  /** the root directory of the container as seen from the host (/proc/<pid>/root) */
  root(): string;
  /** the full command the container runs (ENTRYPOINT + args) */
  readonly command: string[];
  readonly env: Record<string, string>;
  readonly capabilities: string[];
  output(): { stdout: string; stderr: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The container's environment as the kubelet builds it. */
export function containerEnv(opts: PodEmulationOptions, c: Obj): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', // the node base image's
    ...opts.contract.env,
    HOSTNAME: opts.nodeName, // hostNetwork: the node's hostname
  };
  if (opts.apiServer) {
    env.KUBERNETES_SERVICE_HOST = opts.apiServer.host;
    env.KUBERNETES_SERVICE_PORT = String(opts.apiServer.port);
  }
  for (const from of (c.envFrom ?? []) as Obj[]) {
    const name = from.secretRef?.name ?? from.configMapRef?.name;
    const src = from.secretRef ? opts.secrets?.get(name) : opts.configMaps.get(name);
    if (!src) throw new Error(`envFrom: ${name} not found`);
    Object.assign(env, src.stringData ?? src.data ?? {});
  }
  for (const e of (c.env ?? []) as Obj[]) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName') env[e.name] = opts.nodeName;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.podIP' || e.valueFrom?.fieldRef?.fieldPath === 'status.hostIP') env[e.name] = '127.0.0.1';
    else throw new Error(`env ${e.name}: unsupported source ${JSON.stringify(e.valueFrom)}`);
  }
  // $(VAR) references among env values, as the kubelet expands them
  for (const k of Object.keys(env)) env[k] = env[k].replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
  return env;
}

/** The root filesystem without a built image: the host's OS (/usr read-only, a few /etc files) plus the final stage's COPYs. */
function imageFromHost(opts: PodEmulationOptions, staging: string, sh: (line: string) => void): void {
  sh('mount -t tmpfs -o mode=0755 rootfs "$R"');
  sh('mkdir -p "$R/usr" "$R/etc" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/run" "$R/var/run"');
  sh('mount --rbind /usr "$R/usr" && mount -o remount,bind,ro "$R/usr"');
  for (const l of ['bin', 'lib', 'lib64', 'sbin']) sh(`[ -L /${l} ] && ln -s "$(readlink /${l})" "$R/${l}" || true`);
  for (const f of ['passwd', 'group', 'hosts', 'resolv.conf', 'nsswitch.conf', 'host.conf', 'ld.so.cache', 'ld.so.conf']) {
    sh(`[ -e /etc/${f} ] && cp -L /etc/${f} "$R/etc/${f}" || true`);
  }
  sh('[ -d /etc/ld.so.conf.d ] && cp -r /etc/ld.so.conf.d "$R/etc/" || true');
  // the final stage's COPY instructions
  for (const ins of opts.stage.instructions.filter((i) => i.cmd === 'COPY')) {
    const parts = ins.json ?? ins.rest.split(/\s+/);
    const dst = parts.at(-1)!;
    for (const src of parts.slice(0, -1)) {
      let from: string;
      if (ins.flags.from !== undefined) {
        const out = opts.stageOutputs[`${ins.flags.from}:${src}`];
        if (out === undefined) throw new Error(`COPY --from=${ins.flags.from} ${src}: no stage output given`);
        from = out;
      } else {
        from = join(opts.contextDir, src);
      }
      // staged on disk first (cp into the tmpfs inside the namespace keeps the host clean)
      const target = dst.endsWith('/') ? join(dst, src.split('/').pop()!) : dst;
      const st = join(staging, target);
      mkdirSync(dirname(st), { recursive: true });
      cpSync(from, st, { recursive: true });
      sh(`mkdir -p "$R${dirname(target)}" && cp -a ${q(st)} "$R${target}"`);
      if (ins.flags.chown !== undefined) sh(`chown -R ${q(ins.flags.chown)} "$R${target}"`);
    }
  }
}

export function startPod(opts: PodEmulationOptions): EmulatedPod {
  const pod = opts.daemonSet.spec.template.spec as Obj;
  const c = pod.containers[0] as Obj;
  const sc = (c.securityContext ?? {}) as Obj;
  const root = join(opts.workDir, 'rootfs');
  mkdirSync(root, { recursive: true });
  const staging = join(opts.workDir, 'staging');
  mkdirSync(staging, { recursive: true });
  const script: string[] = ['set -eu', `R=${q(root)}`];
  const sh = (line: string) => script.push(line);

  for (const b of opts.preBinds ?? []) {
    if (!existsSync(b.dst)) {
      mkdirSync(dirname(b.dst), { recursive: true });
      writeFileSync(b.dst, '');
    }
    sh(`mount --bind ${q(b.src)} ${q(b.dst)}`);
  }

  // 1. the image's root filesystem
  if (opts.imageRoot !== undefined) {
    sh(`mkdir -p ${q(join(staging, 'upper'))} && mount -t tmpfs tmpfs ${q(join(staging, 'upper'))} && mkdir ${q(join(staging, 'upper/u'))} ${q(join(staging, 'upper/w'))}`);
    sh(`mount -t overlay overlay -o lowerdir=${q(opts.imageRoot)},upperdir=${q(join(staging, 'upper/u'))},workdir=${q(join(staging, 'upper/w'))} "$R"`);
    sh('mkdir -p "$R/proc" "$R/sys" "$R/dev" "$R/tmp"');
  } else {
    imageFromHost(opts, staging, sh);
  }
  sh(`mkdir -p "$R${opts.contract.workdir}"`);


  // 2. container basics: /proc of the host pid namespace (hostPID), read-only sysfs, minimal /dev
  if (pod.hostPID !== true) throw new Error('the emulation runs in the host pid namespace: hostPID must be true');
  if (pod.hostNetwork !== true) throw new Error('the emulation runs in the host network namespace: hostNetwork must be true');
  sh('mount -t proc proc "$R/proc"');
  sh('mount -t sysfs -o ro sysfs "$R/sys"');
  sh('mount -t tmpfs -o mode=0755 dev "$R/dev"');
  for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty']) sh(`touch "$R/dev/${d}" && mount --bind /dev/${d} "$R/dev/${d}"`);
  sh('ln -s /proc/self/fd "$R/dev/fd"; mkdir -p "$R/dev/shm" && mount -t tmpfs shm "$R/dev/shm"');

  // 3. volumes
  const volumes = new Map<string, Obj>(((pod.volumes ?? []) as Obj[]).map((v) => [v.name, v]));
  const mounts = [...((c.volumeMounts ?? []) as Obj[])];
  let saDir: string | undefined;
  if (opts.serviceAccount && pod.automountServiceAccountToken !== false) {
    saDir = join(staging, 'serviceaccount');
    mkdirSync(saDir, { recursive: true });
    writeFileSync(join(saDir, 'token'), opts.serviceAccount.token);
    writeFileSync(join(saDir, 'ca.crt'), opts.serviceAccount.caCrt);
    writeFileSync(join(saDir, 'namespace'), opts.serviceAccount.namespace);
    mounts.push({ name: '__sa', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    volumes.set('__sa', { name: '__sa', __dir: saDir });
  }
  // parents before children (a mount over a mount's subdirectory comes after it)
  mounts.sort((a, b) => String(a.mountPath).split('/').length - String(b.mountPath).split('/').length);
  for (const m of mounts) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volumeMount ${m.name}: no such volume`);
    const at = `"$R${m.mountPath}"`;
    if (v.hostPath) {
      const path = opts.hostPathOverrides?.[v.hostPath.path] ?? v.hostPath.path;
      const type = v.hostPath.type as string | undefined;
      if (['Directory', 'File', 'Socket'].includes(type ?? '') && !existsSync(path)) throw new Error(`hostPath ${path}: type ${type} but it does not exist (the kubelet would not start the pod)`);
      const isFile = existsSync(path) && !statSync(path).isDirectory();
      sh(isFile ? `mkdir -p "$(dirname ${at})" && touch ${at}` : `mkdir -p ${at}`);
      sh(`mount --rbind ${q(path)} ${at}`);
      if (m.readOnly === true) sh(`mount -o remount,bind,ro ${at}`);
      continue;
    }
    sh(`mkdir -p ${at}`);
    if (v.configMap || v.secret) {
      const src = v.configMap ? opts.configMaps.get(v.configMap.name) : opts.secrets?.get(v.secret.secretName);
      if (!src) throw new Error(`volume ${m.name}: ${JSON.stringify(v)} not rendered`);
      const dir = join(staging, `vol-${m.name}`);
      mkdirSync(dir, { recursive: true });
      for (const [k, val] of Object.entries((src.data ?? src.stringData ?? {}) as Record<string, string>)) writeFileSync(join(dir, k), val);
      sh(`mount -t tmpfs -o mode=0755 vol-${m.name} ${at} && cp -a ${q(dir)}/. ${at}/`);
    } else if (v.emptyDir) {
      sh(`mount -t tmpfs -o mode=1777${v.emptyDir.sizeLimit ? `,size=${String(v.emptyDir.sizeLimit).replace(/i$/, '').toLowerCase()}` : ''} vol-${m.name} ${at}`);
    } else if (v.__dir) {
      sh(`mount --bind ${q(v.__dir as string)} ${at}`);
    } else {
      throw new Error(`volume ${m.name}: unsupported kind ${JSON.stringify(v)}`);
    }
    if (m.readOnly === true) sh(`mount -o remount,bind,ro ${at}`);
  }
  if (sc.readOnlyRootFilesystem === true) sh('mount -o remount,ro "$R"');

  // 4. identity, capabilities, environment, command
  const privileged = sc.privileged === true;
  const caps: string[] = privileged ? ['all'] : ((sc.capabilities?.add ?? []) as string[]);
  if (!privileged && !((sc.capabilities?.drop ?? []) as string[]).includes('ALL')) throw new Error('the emulation implements capabilities as drop ALL + add');
  const bounding = privileged ? '+all' : ['-all', ...caps.map((x) => `+${x.toLowerCase()}`)].join(',');
  const uid = sc.runAsUser ?? 0;
  const gid = sc.runAsGroup ?? 0;
  const env = containerEnv(opts, c);
  const command = [...((c.command as string[] | undefined) ?? opts.contract.entrypoint), ...((c.args as string[] | undefined) ?? (c.command ? [] : opts.contract.cmd))];
  const setpriv = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', `--bounding-set=${bounding}`];
  if (sc.allowPrivilegeEscalation === false) setpriv.push('--no-new-privs');
  const envArgs = ['env', '-i', '-C', opts.contract.workdir, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  // enter a private cgroup namespace rooted at the container's cgroup (joined by TestCgroup.spawn)
  sh(`exec unshare --cgroup chroot "$R" ${[...setpriv, ...envArgs, ...command].map(q).join(' ')}`);
  const file = join(opts.workDir, 'pod.sh');
  writeFileSync(file, `${script.join('\n')}\n`);
  chmodSync(file, 0o755);

  const proc = opts.cgroup.spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', file]);
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc, pid: proc.pid!, command, env, capabilities: caps,
    root: () => `/proc/${proc.pid}/root`,
    output: () => ({ stdout, stderr }),
    exited,
  };
}

/** Runs a command inside the pod's root filesystem and environment (like `kubectl exec`, without the capability set). */
export function execInPod(p: EmulatedPod, cmd: string[], env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync('nsenter', ['-t', String(p.pid), '-m', '-C', '-r', '-w', '--', 'env', '-i', ...Object.entries({ ...p.env, ...env }).map(([k, v]) => `${k}=${v}`), ...cmd], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

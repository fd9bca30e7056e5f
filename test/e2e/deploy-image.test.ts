// deploy/docker/Dockerfile built for real without a container engine (test/helpers/image-emulation.ts:
// debootstrap'd bookworm as the base images, every RUN/COPY/ENV/WORKDIR applied in chroots), then the
// resulting runtime root filesystem checked (no build tools, the addon's libraries resolve, size) and run
// as the chart's DaemonSet container (test/helpers/pod-emulation.ts with the image as the root): node and
// eBPF metrics from the image itself. Slow on a cold cache (apt installs clang/llvm, the whole build runs
// in the chroot); cached per Dockerfile + build context + day.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CgroupFs } from '../../src/internal/cgroup/index.js';
import { TestCgroup, removeTopLevel } from '../helpers/cgroups.js';
import { finalStage, imageContract, parseDockerfile } from '../helpers/dockerfile.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { cargoBinary, contextFiles, contextKey, copyContext } from '../helpers/image-build.js';
import type { EmulatedImage } from '../helpers/image-emulation.js';
import { emulateBuild, emulationUnavailable, rootfsSize } from '../helpers/image-emulation.js';
import { buildK8sTools, helmTemplate, objects } from '../helpers/k8s-tools.js';
import type { EmulatedPod } from '../helpers/pod-emulation.js';
import { startPod } from '../helpers/pod-emulation.js';
import { ROOT } from '../helpers/paths.js';
import { freePort, pollUntil } from '../peers/proc.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered Kubernetes objects

process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
function unavailable(): string | undefined {
  const r = e2eSkipReason() ?? emulationUnavailable();
  if (r) return r;
  if (!cargoBinary()) return 'needs the host\'s rustup toolchain (the rust base image is emulated with it)';
  if (spawnSync('go', ['version']).status !== 0) return 'needs Go (helm renders the chart)';
  return undefined;
}
const skip = unavailable() ?? false;
if (skip) console.log(`# SKIP image build emulation: ${skip}`);

const DOCKERFILE = join(ROOT, 'deploy', 'docker', 'Dockerfile');
const text = readFileSync(DOCKERFILE, 'utf8');
const df = parseDockerfile(text);
const tmp = mkdtempSync(join(tmpdir(), 'sonde-image-e2e-'));
const TOP = `/sonde-e2e-img-${process.pid}`;
let image: EmulatedImage;
let pod: EmulatedPod | undefined;
let cg: TestCgroup | undefined;

before(() => {
  if (skip) return;
  const files = contextFiles();
  const ctx = join(tmp, 'context');
  copyContext(ctx, files);
  image = emulateBuild(df, text, ctx, contextKey(files));
  console.log(`# image built ${image.built ? `in ${Math.round(image.ms / 1000)} s` : '(cached)'}:\n# ${image.log.filter((l) => l.startsWith('RUN')).map((l) => l.split('\n')[0]).join('\n# ')}`);
});

after(async () => {
  if (pod && pod.proc.exitCode === null && pod.proc.signalCode === null) {
    pod.proc.kill('SIGKILL');
    await pod.exited;
  }
  await cg?.destroy();
  if (!skip) removeTopLevel(CgroupFs.detect(), TOP);
  rmSync(tmp, { recursive: true, force: true });
});

const inRoot = (root: string, cmd: string[]) => spawnSync('chroot', [root, '/usr/bin/env', '-i', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...cmd], { encoding: 'utf8' });

describe('the Dockerfile, built without an engine', { skip, concurrency: false }, () => {
  test('every stage ran: cargo fetched libbpf, the build stage compiled it all, the runtime stage assembled /opt/sonde', () => {
    const runs = image.log.filter((l) => l.startsWith('RUN'));
    assert.equal(runs.length, df.stages.flatMap((s) => s.instructions).filter((i) => i.cmd === 'RUN').length);
    const build = image.stages.get('build')!;
    for (const f of ['opt/sonde/bin/sonde.js', 'opt/sonde/native/build/Release/sonde_native.node', 'opt/sonde/build/bpf/tcp.bpf.o', 'opt/sonde/build/bpf/process.bpf.o', 'src/build/libbpf/lib/libbpf.a']) {
      assert.ok(existsSync(join(build, f)), `build stage has ${f}`);
    }
    assert.ok(existsSync(join(image.stages.get('libbpf-src')!, 'libbpf-sys.crate')));
  });

  test('the runtime root filesystem: node, the agent and libelf; no compilers, no npm, no apt lists', () => {
    const rt = image.final;
    for (const f of ['usr/local/bin/node', 'opt/sonde/bin/sonde.js', 'opt/sonde/healthcheck.mjs', 'etc/sonde/config.yaml']) assert.ok(existsSync(join(rt, f)), f);
    for (const f of ['usr/bin/gcc', 'usr/bin/cc', 'usr/bin/clang', 'usr/bin/make', 'usr/bin/bpftool', 'usr/local/bin/npm', 'usr/local/lib/node_modules/npm', 'usr/local/include/node', 'usr/bin/python3', 'usr/include/libelf.h']) {
      assert.ok(!existsSync(join(rt, f)), `${f} must not be in the runtime image`);
    }
    assert.deepEqual(spawnSync('ls', [join(rt, 'var/lib/apt/lists')], { encoding: 'utf8' }).stdout.trim().split('\n').filter((x) => x !== '' && x !== 'partial' && x !== 'lock' && x !== 'auxfiles'), []);
    const ldd = inRoot(rt, ['ldd', '/opt/sonde/native/build/Release/sonde_native.node']);
    assert.equal(ldd.status, 0, ldd.stderr);
    assert.doesNotMatch(ldd.stdout, /not found/);
    assert.match(ldd.stdout, /libelf\.so\.1 => /);
    assert.match(ldd.stdout, /libz\.so\.1 => /);
    const v = inRoot(rt, ['node', '/opt/sonde/bin/sonde.js', 'validate', '--config', '/etc/sonde/config.yaml']);
    assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
  });

  test('image size estimate (the runtime stage\'s root filesystem)', (t) => {
    const rt = rootfsSize(image.final);
    const agent = rootfsSize(join(image.final, 'opt/sonde'));
    const build = rootfsSize(image.stages.get('build')!);
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    const line = `runtime image ${mib(rt.bytes)} (${mib(rt.gzipBytes)} gzip), of which /opt/sonde ${mib(agent.bytes)} (${mib(agent.gzipBytes)} gzip); build stage ${mib(build.bytes)}`;
    t.diagnostic(line);
    console.log(`# ${line}`);
    assert.ok(rt.bytes < 260 * 1048576, line);
    assert.ok(agent.bytes < 40 * 1048576, line);
  });

  test('the image runs as the chart\'s DaemonSet container: node and eBPF metrics', async () => {
    const metricsPort = await freePort();
    const telemetryPort = await freePort();
    // no API server here: k8sattributes keeps to the runtime's labels (auth_type none)
    const objs = objects(helmTemplate(buildK8sTools(), { args: ['--namespace', 'sonde', '--set', `ports.metrics=${metricsPort}`, '--set', `ports.telemetry=${telemetryPort}`, '--set', 'config.processors.k8sattributes.auth_type=none'] }));
    const one = (kind: string): Obj => objs.find((o) => o.kind === kind)!;
    cg = new TestCgroup(CgroupFs.detect(), `${TOP}/kubepods/pod1/${'b'.repeat(64)}`);
    pod = startPod({
      daemonSet: one('DaemonSet'), configMaps: new Map([[one('ConfigMap').metadata.name as string, one('ConfigMap')]]),
      stage: finalStage(df), contract: imageContract(df), contextDir: join(tmp, 'context'), stageOutputs: {},
      imageRoot: image.final, workDir: join(tmp, 'pod'), nodeName: 'image-node', cgroup: cg,
    });
    const body = await pollUntil('metrics from the image', async () => {
      if (pod!.proc.exitCode !== null) throw new Error(`exited ${pod!.proc.exitCode}: ${pod!.output().stderr}`);
      try {
        const b = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return b.includes('node_resources_cpu_usage_seconds_total') && b.includes('container_net_tcp_') ? b : undefined;
      } catch {
        return undefined;
      }
    }, 60_000, 300);
    assert.ok(body.includes('node_info{'));
    assert.equal((await fetch(`http://127.0.0.1:${telemetryPort}/readyz`)).status, 200);
    pod.proc.kill('SIGTERM');
    assert.equal((await pod.exited).code, 0, pod.output().stderr.slice(-2000));
  });
});

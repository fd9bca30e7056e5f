// The README's "Deploy" section says what the code does: its capability table is the verified matrix,
// its three `helm install` commands render into valid objects whose config validates with the backend
// wired in, and its `docker run` command grants the chart's capabilities and mounts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { chartCapabilities, renderCapabilityTable } from '../helpers/capabilities.js';
import { buildK8sTools, helmTemplate, k8sSchemaDir, kubeconform, objects } from '../helpers/k8s-tools.js';
import { ROOT } from '../helpers/paths.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- rendered objects

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const deploy = readme.slice(readme.indexOf('## Deploy'), readme.indexOf('\n## ', readme.indexOf('## Deploy') + 3));
const tmp = mkdtempSync(join(tmpdir(), 'sonde-readme-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Shell commands of the section's ```sh blocks, continuation lines joined, split into words. */
function commands(): string[][] {
  const out: string[][] = [];
  for (const block of deploy.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const cmd of block[1].replace(/\\\n\s*/g, ' ').split('\n')) {
      const words: string[] = [];
      let cur = '';
      let quote = '';
      let started = false;
      for (const ch of cmd.replace(/\s+#.*$/, '')) {
        if (quote) {
          if (ch === quote) quote = ''; else cur += ch;
        } else if (ch === '\'' || ch === '"') {
          quote = ch;
          started = true;
        } else if (/\s/.test(ch)) {
          if (cur !== '' || started) words.push(cur);
          cur = '';
          started = false;
        } else {
          cur += ch;
        }
      }
      if (cur !== '' || started) words.push(cur);
      if (words.length > 0) out.push(words);
    }
  }
  return out;
}

const goMissing = spawnSync('go', ['version'], { env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` } }).status !== 0;

describe('README "Deploy"', () => {
  test('the capability table is the matrix test/e2e/deploy-capabilities.test.ts verifies', () => {
    const m = /<!-- capability-matrix:start[^\n]*-->\n([\s\S]*?)\n<!-- capability-matrix:end -->/.exec(readme);
    assert.ok(m, 'markers present');
    assert.equal(m[1], renderCapabilityTable(), 'regenerate the table from test/helpers/capabilities.ts');
  });

  test('the docker run command grants the chart\'s capabilities and mounts', () => {
    const run = commands().find((c) => c[0] === 'docker' && c[1] === 'run')!;
    assert.ok(run);
    assert.ok(run.includes('--cap-drop=ALL') && run.includes('--pid=host') && run.includes('--network=host') && run.includes('--read-only'));
    assert.deepEqual(run.filter((w) => w.startsWith('--cap-add=')).map((w) => w.slice(10)), chartCapabilities());
    const mounts = run.flatMap((w, i) => (w === '-v' ? [run[i + 1]] : []));
    for (const v of mounts) assert.match(v, /:ro$/, `${v} read-only`);
    const image = parse(readFileSync(join(ROOT, 'deploy', 'docker', 'config.yaml'), 'utf8')) as Obj;
    assert.equal(image.receivers.node.root_path, '/host');
    assert.ok(mounts.includes('/proc:/host/proc:ro') && mounts.includes('/run:/host/run:ro') && mounts.includes('/sys/fs/cgroup:/host/sys/fs/cgroup:ro'));
  });

  test('the three helm install commands render valid objects, and the config validates with the backend in its pipelines', { skip: goMissing ? 'needs Go (helm)' : false }, () => {
    process.env.PATH = `${process.env.PATH}:/usr/local/go/bin`;
    const tools = buildK8sTools();
    const schemas = k8sSchemaDir();
    const secretKeys = commands().find((c) => c[0] === 'kubectl' && c.includes('secret'))!
      .filter((w) => w.startsWith('--from-literal=')).map((w) => w.slice(15).split('=')[0]);
    assert.deepEqual(secretKeys.sort(), ['CLICKHOUSE_PASSWORD', 'OTLP_TOKEN', 'REMOTE_WRITE_TOKEN']);
    const installs = commands().filter((c) => c[0] === 'helm' && c[1] === 'install');
    assert.equal(installs.length, 3);
    const backends = new Set<string>();
    for (const cmd of installs) {
      assert.equal(cmd[3], 'deploy/helm/sonde');
      const m = helmTemplate(tools, { release: cmd[2], args: cmd.slice(4) });
      const r = kubeconform(tools, schemas, m);
      assert.ok(r.ok, r.problems.join('\n'));
      const objs = objects(m) as Obj[];
      const cm = objs.find((o) => o.kind === 'ConfigMap')!;
      const cfg = parse(cm.data['config.yaml'] as string) as Obj;
      const added = Object.keys(cfg.exporters).filter((e) => e !== 'prometheus' && e !== 'debug');
      assert.equal(added.length, 1, cmd.join(' '));
      backends.add(added[0]);
      assert.ok((cfg.service.pipelines.metrics.exporters as string[]).includes(added[0]));
      const c = objs.find((o) => o.kind === 'DaemonSet')!.spec.template.spec.containers[0] as Obj;
      assert.deepEqual(c.envFrom, [{ secretRef: { name: 'sonde-env' } }]);
      assert.equal(c.image, 'registry.example.com/sonde:0.1.0');
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', K8S_NODE_NAME: 'n' };
      for (const e of c.env as Obj[]) if (e.value !== undefined) env[e.name] = e.value;
      for (const k of secretKeys) env[k] = 'secret';
      const file = join(tmp, `${added[0]}.yaml`);
      writeFileSync(file, cm.data['config.yaml'] as string);
      const v = spawnSync(process.execPath, [join(ROOT, 'bin', 'sonde.js'), 'validate', '--config', file], { encoding: 'utf8', env });
      assert.equal(v.status, 0, `${cmd.join(' ')}\n${v.stdout}${v.stderr}`);
    }
    assert.deepEqual([...backends].sort(), ['clickhouse', 'otlp', 'prometheusremotewrite']);
  });

  test('the files the install steps name exist', () => {
    for (const c of commands()) {
      for (const w of c) if (/^(deploy|otel-config)/.test(w)) assert.ok(spawnSync('test', ['-e', join(ROOT, w.split(':')[0])]).status === 0, w);
    }
  });
});

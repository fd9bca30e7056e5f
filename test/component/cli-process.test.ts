// The CLI as users run it: a child process of `sonde run` (with the test receiver registered), signals,
// draining on SIGTERM, a second signal exiting at once; plus --version/--help/components in-process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/cli.js';
import { VERSION } from '../../src/version.js';

const root = new URL('../../../', import.meta.url).pathname;
const runCli = join(root, 'dist/test/helpers/run-cli.js');
const dir = mkdtempSync(join(tmpdir(), 'sonde-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function startAgent(yaml: string): { child: ReturnType<typeof spawn>; ready: Promise<string>; exit: Promise<{ code: number | null; signal: string | null }>; stderr: () => string } {
  const cfg = join(dir, `cfg-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(cfg, yaml);
  const child = spawn(process.execPath, [runCli, 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('sonde started')) resolve(err);
    });
    child.once('exit', () => reject(new Error(`agent exited before it was ready:\n${err}`)));
  });
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, ready, exit, stderr: () => err };
}

const pipeline = (file: string, extra = '') => `
receivers:
  testgen:
    spans: 1000
    ${extra}
processors:
  batch:
    timeout: 1h
    send_batch_size: 100000
exporters:
  file:
    path: ${file}
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [testgen]
      processors: [batch]
      exporters: [file]
`;

function countSpans(file: string): number {
  let n = 0;
  for (const line of readFileSync(file, 'utf8').trim().split('\n').filter(Boolean)) {
    const req = JSON.parse(line) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: unknown[] }> }> };
    for (const rs of req.resourceSpans) for (const ss of rs.scopeSpans) n += ss.spans.length;
  }
  return n;
}

test('SIGTERM drains the batch processor into the exporter before the process exits', async () => {
  const file = join(dir, 'drain.jsonl');
  const a = startAgent(pipeline(file));
  await a.ready;
  // The batch holds all 1000 spans (timeout 1h, size 100000): nothing is in the file yet.
  assert.equal(readFileSync(file, 'utf8'), '');
  a.child.kill('SIGTERM');
  const { code } = await a.exit;
  assert.equal(code, 0, a.stderr());
  assert.equal(countSpans(file), 1000);
  assert.match(a.stderr(), /shutting down reason=SIGTERM/);
  assert.match(a.stderr(), /sonde stopped/);
});

test('a second signal exits at once without waiting for the drain', async () => {
  const file = join(dir, 'second.jsonl');
  const a = startAgent(pipeline(file, 'shutdown_delay: 1h'));
  await a.ready;
  a.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  a.child.kill('SIGINT');
  const { code } = await a.exit;
  assert.equal(code, 130, a.stderr());
  assert.match(a.stderr(), /second signal: exiting without draining/);
});

test('a start failure names the component and exits 1', async () => {
  const file = join(dir, 'nodir/x/y.jsonl');
  writeFileSync(join(dir, 'nodir'), 'a file, not a folder');
  const a = startAgent(pipeline(file));
  const { code } = await a.exit;
  assert.equal(code, 1);
  assert.match(a.stderr(), /exporter file \(traces\) failed to start: file exporter cannot open/);
  await a.ready.catch(() => undefined);
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s), env: {} });
  return { code, out, err };
}

test('--version, --help, components and unknown commands', async () => {
  assert.deepEqual(await cli(['--version']), { code: 0, out: `sonde ${VERSION}\n`, err: '' });
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /sonde run \[--config FILE\]/);
  const comps = await cli(['components']);
  assert.equal(comps.code, 0);
  assert.match(comps.out, /^receivers:$/m);
  assert.match(comps.out, /^\s+batch\s+traces:beta metrics:beta logs:beta/m);
  assert.match(comps.out, /^\s+prometheus\s+metrics:beta/m);
  const bad = await cli(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /unknown command "frobnicate"/);
  assert.equal((await cli(['validate'])).code, 2);
});

// Unit tests of the test-peer plumbing: ports, readiness failure classification, retries, spawn
// errors and the stale-dir sweep. They spawn `sh`/`sleep` only, no servers.
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PeerProcess, PortClashError, freePort, makeTempDir, pidAlive, pidsListeningOn, removeTempDir, retryOnPortClash,
  sweepStalePeers, tcpPortFree, waitReady,
} from '../../peers/proc.js';

void test('freePort hands out distinct free loopback ports; tcpPortFree and pidsListeningOn see a listener', async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort({ udp: true })]);
  assert.equal(new Set(ports).size, 3);
  for (const p of ports) assert.ok(await tcpPortFree(p));
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  try {
    assert.equal(await tcpPortFree(port), false);
    assert.deepEqual(pidsListeningOn(port), [process.pid]);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
  assert.ok(await tcpPortFree(port));
});

void test('waitReady: an early exit whose log says "address already in use" is a PortClashError', async () => {
  const dir = makeTempDir('unit');
  try {
    const clash = new PeerProcess({ cmd: 'sh', args: ['-c', 'echo "bind: Address already in use" >&2; exit 1'] }, join(dir, 'a.log'));
    await assert.rejects(waitReady('clash', clash, async () => false), PortClashError);
    const other = new PeerProcess({ cmd: 'sh', args: ['-c', 'echo "config error" >&2; exit 1'] }, join(dir, 'b.log'));
    await assert.rejects(waitReady('other', other, async () => false), (e: Error) => !(e instanceof PortClashError) && /config error/.test(e.message));
    const slow = new PeerProcess({ cmd: 'sleep', args: ['30'] }, join(dir, 'c.log'));
    await assert.rejects(waitReady('slow', slow, async () => false, { timeoutMs: 100 }), /not ready after 100 ms/);
    await slow.stop();
    assert.equal(pidAlive(slow.pid), false);
    await slow.stop(); // idempotent
  } finally {
    removeTempDir(dir);
  }
});

void test('a missing binary fails fast and names the package list', async () => {
  const dir = makeTempDir('unit');
  try {
    const p = new PeerProcess({ cmd: 'sonde-no-such-server', args: [] }, join(dir, 'x.log'));
    await assert.rejects(waitReady('missing', p, async () => false), /ENOENT.*apt-packages-peers\.txt/s);
  } finally {
    removeTempDir(dir);
  }
});

void test('retryOnPortClash retries only port clashes, at most N times', async () => {
  let calls = 0;
  assert.equal(await retryOnPortClash(3, async () => { if (++calls < 3) throw new PortClashError('x'); return 'ok'; }), 'ok');
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(retryOnPortClash(2, async () => { calls++; throw new PortClashError('x'); }), PortClashError);
  assert.equal(calls, 2);
  calls = 0;
  await assert.rejects(retryOnPortClash(3, async () => { calls++; throw new Error('other'); }), /other/);
  assert.equal(calls, 1);
});

void test('sweepStalePeers kills the servers of dirs whose owner died and removes the dirs; live owners are left alone', async () => {
  const procStart = (pid: number): string => {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  };
  const orphan = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
  const orphanExit = once(orphan, 'exit');
  const pid = orphan.pid ?? -1;
  const stale = mkdtempSync(join(tmpdir(), 'sonde-unit-stale-'));
  writeFileSync(join(stale, '.sonde-peer.json'), JSON.stringify({
    owner: { pid: 999_999_999, start: 'gone' }, servers: [{ pid, start: procStart(pid) }],
  }));
  const live = mkdtempSync(join(tmpdir(), 'sonde-unit-live-'));
  writeFileSync(join(live, '.sonde-peer.json'), JSON.stringify({ owner: { pid: process.pid, start: procStart(process.pid) }, servers: [] }));
  try {
    assert.ok(sweepStalePeers() >= 1);
    await orphanExit;
    assert.equal(pidAlive(pid), false);
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(live), true);
  } finally {
    removeTempDir(live);
    removeTempDir(stale);
    try { process.kill(-pid, 'SIGKILL'); } catch { /* swept */ }
  }
});

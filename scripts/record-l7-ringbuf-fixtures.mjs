#!/usr/bin/env node
// Records the l7 probe's ring-buffer batches from the real kernel (root; after npm run build:bpf,
// build:native and build) for a known workload, keeping only the records of the workload's own
// connections (the machine is shared):
//   curl → nginx   one keep-alive connection: /ok?token=secret, /ok, /notfound, /error, /big (64 KiB,
//                  several segments), then a second connection: /ok
//   curl → Node A → Node B   A calls B while handling each of 2 requests
// Writes test/fixtures/ringbuf/l7/{001,002}-workload.bin, manifest.json (ports, pids, expectations)
// and object.json (programs, maps, rodata of the real object, for FakeNative).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNginx } from '../bench/lib/loopback.mjs';

const root = new URL('..', import.meta.url).pathname;
const { loadNative } = await import(`${root}dist/src/native/load.js`);
const { BpfObject } = await import(`${root}dist/src/native/bpf-object.js`);
const { forEachRecord, encodeRecords } = await import(`${root}dist/src/native/ring-records.js`);
const { L7EventType, L7ConnEventView, L7EventView, L7_TYPE_OFFSET } = await import(`${root}dist/src/receivers/ebpf/probes/l7/decode.js`);
const cap = await import(`${root}dist/src/receivers/ebpf/probes/l7/capture.js`);

if (process.getuid() !== 0) { console.error('needs root'); process.exit(1); }
const native = loadNative();
const tcp = BpfObject.open(native, `${root}build/bpf/tcp.bpf.o`);
tcp.setRodata('targ_self_tgid', process.pid);
tcp.load();
const l7 = BpfObject.open(native, `${root}build/bpf/l7.bpf.o`);
const objectSpec = { programs: l7.programs().map((p) => p.name), maps: l7.maps(), rodata: l7.rodataVariables() };
cap.configureL7Object(l7, tcp, { captureBytes: 1024, detectTries: 4, ringBytes: 16 << 20, wakeupBytes: 256 << 10, selfPid: process.pid, protocols: ['http'] }, { sendmsgTracepoint: cap.hasSendmsgTracepoint() });
l7.load();
const links = [...tcp.attachAll(), ...cap.attachL7Object(l7, cap.cgroup2Root())];
const reader = l7.ringReader('events', { bufferBytes: 4 << 20 });
const all = [];
const drain = () => { while (reader.drain((buf, _n, bytes) => forEachRecord(buf, bytes, (v, off, len) => all.push(Buffer.from(v.buffer.slice(off, off + len))))) > 0); };
const timer = setInterval(drain, 10);

const port = 18000 + (process.pid % 1000);
const nginx = await startNginx({ port, cpu: '0-1' });
const big = 64 * 1024;
const run = (cmd, args) => new Promise((resolve) => { const p = spawn(cmd, args, { stdio: 'ignore' }); p.on('exit', () => resolve(p.pid)); });
const u = `http://127.0.0.1:${port}`;
const curl1 = await run('curl', ['-s', ...['/ok?token=secret', '/ok', '/notfound', '/error', '/big'].flatMap((p) => ['-o', '/dev/null', `${u}${p}`])]);
const curl2 = await run('curl', ['-s', '-o', '/dev/null', `${u}/ok`]);

// Node A (handles /orders/<n> by calling B /items/<n>) and B
const node = (code) => {
  const p = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve) => p.stdout.once('data', (d) => resolve({ p, port: Number(String(d).trim()) })));
};
const B = await node(`import http from 'node:http'; const s = http.createServer((q, r) => r.end('{"ok":true}')); s.listen(0, '127.0.0.1', () => console.log(s.address().port)); process.stdin.on('data', () => process.exit(0));`);
const A = await node(`import http from 'node:http'; const s = http.createServer((q, r) => { http.get('http://127.0.0.1:${B.port}/items/' + q.url.split('/').pop(), (x) => { x.resume(); x.on('end', () => r.end('done')); }); }); s.listen(0, '127.0.0.1', () => console.log(s.address().port)); process.stdin.on('data', () => process.exit(0));`);
const curl3 = await run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', `http://127.0.0.1:${A.port}/orders/1`, `http://127.0.0.1:${A.port}/orders/2`]);
await sleep(300);
A.p.stdin.write('x');
B.p.stdin.write('x');
await sleep(300);
nginx.stop();
await sleep(300);
clearInterval(timer);
drain();

// keep the connections whose tuple touches our ports, and everything of their cookies
const ports = new Set([port, A.port, B.port]);
const cv = new L7ConnEventView();
const ev = new L7EventView();
const cookies = new Set();
const keep = [];
for (const b of all) {
  const v = new DataView(b.buffer, b.byteOffset, b.length);
  const type = v.getUint32(L7_TYPE_OFFSET, true);
  if (type === L7EventType.OPEN) {
    cv.reset(v, 0);
    if (!ports.has(cv.sport) && !ports.has(cv.dport)) continue;
    cookies.add(cv.cookie);
  } else if (!cookies.has(ev.reset(v, 0, b.length).cookie)) {
    continue;
  }
  keep.push(b);
}
const dir = `${root}test/fixtures/ringbuf/l7`;
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const half = Math.ceil(keep.length / 2);
writeFileSync(`${dir}/001-workload.bin`, encodeRecords(keep.slice(0, half)));
writeFileSync(`${dir}/002-workload.bin`, encodeRecords(keep.slice(half)));
writeFileSync(`${dir}/object.json`, JSON.stringify(objectSpec, null, 2) + '\n');
const manifest = {
  nginxPort: port, nodeA: { port: A.port, pid: A.p.pid }, nodeB: { port: B.port, pid: B.p.pid },
  curl: { keepalive: curl1, single: curl2, chain: curl3 },
  nginxRequests: [['/ok', 200], ['/ok', 200], ['/notfound', 404], ['/error', 500], ['/big', 200], ['/ok', 200]],
  bigBytes: big,
  chainRequests: 2,
  connections: cookies.size,
  records: keep.length,
  recordedOn: process.version,
  kernel: release(),
};
writeFileSync(`${dir}/manifest.json`, JSON.stringify(manifest, null, 2) + '\n');
console.log(`l7: ${keep.length} records of ${cookies.size} connections (of ${all.length} drained)`);
for (const l of links) l.destroy();
l7.destroy();
tcp.destroy();
spawnSync('true');
process.exit(0);

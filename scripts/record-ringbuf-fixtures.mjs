#!/usr/bin/env node
// Records ring-buffer batch fixtures from the real kernel (root; after npm run build:bpf,
// build:native and build). Runs a small known workload, keeps only the workload's records
// (the machine is shared) and writes, per probe:
//   test/fixtures/ringbuf/<probe>/<name>.bin   batches in the ring record format (native/src/ring.c)
//   test/fixtures/ringbuf/<probe>/manifest.json what the workload did, for the decoder tests
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const { loadNative } = await import(`${root}dist/src/native/load.js`);
const { BpfObject } = await import(`${root}dist/src/native/bpf-object.js`);
const { forEachRecord, encodeRecords } = await import(`${root}dist/src/native/ring-records.js`);
const { STRUCTS } = await import(`${root}dist/src/native/layouts.generated.js`);

const native = loadNative();
const objs = {};
for (const name of ['process', 'tcp']) {
  const o = BpfObject.open(native, `${root}build/bpf/${name}.bpf.o`);
  o.setRodata('targ_self_tgid', process.pid);
  o.load();
  o.attachAll();
  objs[name] = { o, reader: o.ringReader() };
}

// the workload: python, so that its pids are the ones in the records
const py = spawnSync('python3', ['-c', `
import json, os, signal, socket, subprocess, time
out = {}
p = subprocess.run(['/bin/sh', '-c', 'exit 3']); out['exit3'] = p.pid if hasattr(p, 'pid') else None
s = subprocess.Popen(['/bin/sleep', '30']); time.sleep(0.05); s.terminate(); s.wait(); out['sleep'] = s.pid
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(); port = l.getsockname()[1]
closed = socket.socket(); closed.bind(('127.0.0.1', 0)); cport = closed.getsockname()[1]; closed.close()
for i in range(2):
    c = socket.create_connection(('127.0.0.1', port)); a, _ = l.accept()
    c.sendall(b'q' * 1000); got = 0
    while got < 1000: got += len(a.recv(4096))
    a.sendall(b'r' * 200); a.close()
    got = 0
    while True:
        d = c.recv(4096)
        if not d: break
        got += len(d)
    c.close()
try:
    socket.create_connection(('127.0.0.1', cport))
except OSError as e:
    out['refused_errno'] = e.errno
l.close(); time.sleep(0.1)
out.update(pid=os.getpid(), port=port, closed_port=cport, sent=1000, reply=200, connections=2)
print(json.dumps(out))
`], { encoding: 'utf8' });
if (py.status !== 0) throw new Error(py.stderr);
const manifest = JSON.parse(py.stdout);
// subprocess.run does not expose the pid: find it among the exec records below
const pidField = { process: STRUCTS.process_event.fields.pid.offset, tcp: STRUCTS.tcp_event.fields.pid.offset };
const ppidOff = STRUCTS.process_event.fields.ppid.offset;

for (const [name, { o, reader }] of Object.entries(objs)) {
  const keep = [];
  const wanted = new Set([manifest.pid, manifest.sleep]);
  const all = [];
  while (reader.drain((buf, _n, bytes) => forEachRecord(buf, bytes, (v, off, len) => {
    all.push({ pid: v.getUint32(off + pidField[name], true), ppid: name === 'process' ? v.getUint32(off + ppidOff, true) : 0,
      bytes: Buffer.from(v.buffer.slice(off, off + len)) });
  })) > 0);
  for (const r of all) if (name === 'process' && r.ppid === manifest.pid) wanted.add(r.pid);
  for (const r of all) if (wanted.has(r.pid)) keep.push(r.bytes);
  const dir = `${root}test/fixtures/ringbuf/${name}`;
  mkdirSync(dir, { recursive: true });
  // two batches, to exercise multi-batch replay
  const half = Math.ceil(keep.length / 2);
  writeFileSync(`${dir}/001-workload.bin`, encodeRecords(keep.slice(0, half)));
  writeFileSync(`${dir}/002-workload.bin`, encodeRecords(keep.slice(half)));
  writeFileSync(`${dir}/manifest.json`, JSON.stringify({ ...manifest, records: keep.length, recordedOn: process.version, kernel: (await import('node:os')).release() }, null, 2) + '\n');
  console.log(`${name}: ${keep.length} records`);
  o.destroy();
}

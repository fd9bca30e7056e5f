// Component tests of the ebpf receiver through its factory, on FakeNative replaying the recorded
// ring-buffer fixtures (test/fixtures/ringbuf, workload in manifest.json): no root, no kernel.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DataPoint, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Issue } from '../../../../src/config/schema.js';
import { INVALID } from '../../../../src/config/schema.js';
import { FakeNative } from '../../../../src/native/fake.js';
import { ENUMS, STRUCTS } from '../../../../src/native/layouts.generated.js';
import type { EbpfConfig } from '../../../../src/receivers/ebpf/config.js';
import { createEbpfReceiverFactory } from '../../../../src/receivers/ebpf/factory.js';
import { ProbeRegistry } from '../../../../src/receivers/ebpf/probe.js';
import type { ProbeFactory } from '../../../../src/receivers/ebpf/probe.js';
import { defaultProbeRegistry } from '../../../../src/receivers/ebpf/probes/index.js';
import { s } from '../../../../src/config/schema.js';
import { SelfTelemetry } from '../../../../src/service/telemetry.js';
import { fixturesDir } from '../../../helpers/paths.js';
import { testSettings, TestHost } from '../../../helpers/settings.js';
import { Sink } from '../../../helpers/sinks.js';

const manifest = JSON.parse(readFileSync(fixturesDir('ringbuf', 'tcp', 'manifest.json'), 'utf8')) as Record<string, number>;
const empty = mkdtempSync(join(tmpdir(), 'sonde-ebpf-unit-'));
after(() => rmSync(empty, { recursive: true, force: true }));

function config(over: Partial<EbpfConfig> = {}): EbpfConfig {
  const f = createEbpfReceiverFactory();
  const issues: Issue[] = [];
  // an empty /proc and cgroup root: every event lands in the root cgroup, deterministically
  const cfg = f.configSchema.parse({ proc_root: empty, cgroup_root: empty, ring_buffer: { drain_interval: '1ms' }, ...over }, ['ebpf'], issues, f.createDefaultConfig());
  assert.notEqual(cfg, INVALID, JSON.stringify(issues));
  return cfg as EbpfConfig;
}

function points(md: ResourceMetrics[], name: string): Array<{ cgroup: unknown; attrs: Record<string, unknown>; value: number }> {
  const out: Array<{ cgroup: unknown; attrs: Record<string, unknown>; value: number }> = [];
  for (const rm of md) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) {
    if (m.descriptor.name !== name) continue;
    for (const p of m.dataPoints as DataPoint<number>[]) out.push({ cgroup: rm.resource.attributes['sonde.cgroup.path'], attrs: p.attributes, value: p.value });
  }
  return out;
}

async function run(fake: FakeNative, signals: Array<'metrics' | 'logs'>, cfg = config()) {
  const telemetry = new SelfTelemetry();
  const f = createEbpfReceiverFactory({ native: fake });
  const sink = new Sink();
  const set = testSettings('ebpf', 'receiver', telemetry);
  const comps = signals.map((sig) => (sig === 'metrics' ? f.createMetrics!(set, cfg, sink) : f.createLogs!(set, cfg, sink)));
  for (const c of comps) await c.start(new TestHost());
  await new Promise((r) => setTimeout(r, 100)); // the fake drains one batch per ms
  for (const c of comps) await c.shutdown();
  return { sink, telemetry };
}

void describe('ebpf receiver on recorded fixtures (FakeNative)', () => {
  void test('coroot TCP metrics per destination from the tcp fixture', async () => {
    const { sink, telemetry } = await run(FakeNative.fromFixtures(fixturesDir('ringbuf')), ['metrics']);
    const md = sink.metrics.at(-1)!;
    const dest = `127.0.0.1:${manifest.port}`;
    const ok = points(md, 'container_net_tcp_successful_connects_total');
    assert.deepEqual(ok, [{ cgroup: '/', attrs: { destination: dest, actual_destination: dest }, value: manifest.connections }]);
    assert.equal(points(md, 'container_net_tcp_active_connections')[0].value, 0, 'both connections closed');
    assert.equal(points(md, 'container_net_tcp_bytes_sent_total')[0].value, manifest.sent * manifest.connections);
    assert.equal(points(md, 'container_net_tcp_bytes_received_total')[0].value, manifest.reply * manifest.connections);
    assert.ok(points(md, 'container_net_tcp_connection_time_seconds_total')[0].value > 0);
    assert.deepEqual(points(md, 'container_net_tcp_failed_connects_total'), [{ cgroup: '/', attrs: { destination: `127.0.0.1:${manifest.closed_port}` }, value: 1 }]);
    assert.deepEqual(points(md, 'container_net_tcp_listen_info'), [], 'the listener was closed');
    // data points carry only the metric's own labels; the cgroup is on the resource
    for (const rm of md) assert.equal(rm.resource.attributes['host.name'], 'test-node');
    assert.equal(telemetry.counterValue('sonde_ebpf_events_total', { probe: 'tcp', type: 'connect' }), 2);
    assert.equal(telemetry.counterValue('sonde_ebpf_events_total', { probe: 'tcp', type: 'close' }), 4);
    assert.equal(telemetry.counterValue('sonde_ebpf_user_events_lost_total'), 0);
    assert.match(telemetry.render(), /sonde_ebpf_drain_batch_records_count\{receiver="ebpf",probe="tcp"\} 2/);
  });

  void test('process exec/exit as log records on the logs signal, one shared instance for both signals', async () => {
    const fake = FakeNative.fromFixtures(fixturesDir('ringbuf'));
    let opens = 0;
    const orig = fake.objectOpen.bind(fake);
    fake.objectOpen = (src, o) => { opens++; return orig(src, o); };
    const { sink } = await run(fake, ['metrics', 'logs']);
    assert.equal(opens, 2, 'process and tcp objects opened once for two signals');
    const logs = sink.logs.flat();
    const exits = logs.filter((l) => l.eventName === 'process.exit');
    const execs = logs.filter((l) => l.eventName === 'process.exec');
    assert.equal(execs.length, 15);
    assert.equal(exits.length, 10);
    const sh = exits.find((l) => l.attributes['process.pid'] === 27971)!;
    assert.equal(sh.attributes['process.exit.code'], 3);
    const sleep = exits.find((l) => l.attributes['process.pid'] === manifest.sleep)!;
    assert.equal(sleep.attributes['process.exit.signal'], 15);
    assert.equal(sleep.attributes['process.executable.name'], 'sleep');
    assert.equal(sleep.resource.attributes['sonde.cgroup.path'], '/');
  });

  void test('OOM kills: counted once per event for the victim\'s cgroup', async () => {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(ENUMS.PROCESS_EVENT_OOM_KILL, 16);
    rec.writeUInt32LE(4242, 20);
    const fake = new FakeNative({ batches: { process: [encode([rec])] } });
    const { sink } = await run(fake, ['metrics']);
    assert.deepEqual(points(sink.metrics.at(-1)!, 'container_oom_kills_total').map((p) => p.value), [1]);
  });

  void test('connections the kernel table evicted (LRU overflow) stop counting as active', async () => {
    const L = STRUCTS.tcp_event;
    const recs: Buffer[] = [];
    for (let i = 1; i <= 1100; i++) {
      const b = Buffer.alloc(L.size);
      b.writeUInt32LE(ENUMS.TCP_EVENT_CONNECT, L.fields.type.offset);
      b.writeBigUInt64LE(BigInt(i), L.fields.cookie.offset);
      b.writeUInt16LE(2, L.fields['tuple.family'].offset);
      b.writeUInt32BE(0x0a000001, L.fields['tuple.daddr'].offset);
      b.writeUInt16LE(443, L.fields['tuple.dport'].offset);
      b.writeUInt8(ENUMS.SONDE_ROLE_CLIENT, L.fields.role.offset);
      recs.push(b);
    }
    const maps = [
      { name: 'events', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 8 << 20, fd: -1, id: 0 },
      { name: 'lost', type: 'percpu_array', keySize: 4, valueSize: 8, maxEntries: 3, fd: -1, id: 0 },
      { name: 'sonde_conns', type: 'lru_hash', keySize: 8, valueSize: STRUCTS.sonde_conn.size, maxEntries: 1024, fd: -1, id: 0 },
    ];
    const fake = new FakeNative({ batches: { tcp: [encode(recs)] }, objects: { tcp: { maps } } });
    // the kernel kept only the newest 1024 (cookies 77..1100)
    const value = Buffer.alloc(STRUCTS.sonde_conn.size);
    const orig = fake.objectLoad.bind(fake);
    fake.objectLoad = (h) => {
      orig(h);
      if (fake.objectName(h) === 'tcp') {
        for (let i = 77; i <= 1100; i++) { const k = Buffer.alloc(8); k.writeBigUInt64LE(BigInt(i)); fake.mapUpdate(h, 'sonde_conns', k, value); }
      }
    };
    const { sink } = await run(fake, ['metrics'], config({ probes: { tcp: { max_connections: 1024 } } } as unknown as Partial<EbpfConfig>));
    const md = sink.metrics.at(-1)!;
    assert.equal(points(md, 'container_net_tcp_successful_connects_total')[0].value, 1100);
    assert.equal(points(md, 'container_net_tcp_active_connections')[0].value, 1024);
  });

  void test('config: probes selectable, unknown probe keys rejected, ring size checked', () => {
    const f = createEbpfReceiverFactory();
    const issues: Issue[] = [];
    f.configSchema.parse({ probes: { tcp: { enabled: false }, udp: {} }, ring_buffer: { size: 1000 } }, ['ebpf'], issues, f.createDefaultConfig());
    const msgs = issues.map((i) => `${i.path.join('::')}: ${i.message}`);
    assert.ok(msgs.some((m) => m.startsWith('ebpf::probes::udp: unknown key')), msgs.join('\n'));
    const ok: Issue[] = [];
    const cfg = f.configSchema.parse({ probes: { tcp: { enabled: false } } }, ['ebpf'], ok, f.createDefaultConfig()) as EbpfConfig;
    assert.deepEqual(ok, []);
    assert.equal(cfg.probes.tcp.enabled, false);
    assert.equal(cfg.probes.process.enabled, true);
    const bad: Issue[] = [];
    f.configSchema.parse({ ring_buffer: { size: 1000 } }, ['ebpf'], bad, f.createDefaultConfig());
    assert.match(bad.map((i) => i.message).join(), /power of two/);
  });

  void test('a disabled probe is not loaded; a probe registered by name plugs in with its own event types', async () => {
    const seen: number[] = [];
    const custom: ProbeFactory<{ enabled: boolean }> = {
      name: 'custom', description: 'test probe', object: 'tcp', requires: ['process'],
      configSchema: s.object({ enabled: s.bool().describe('on') }),
      createDefaultConfig: () => ({ enabled: true }),
      create: () => ({
        eventTypeOffset: 0,
        eventTypeNames: new Map([[7, 'seven']]),
        handlers: new Map([[7, (v: DataView, o: number) => { seen.push(v.getUint32(o + 4, true)); }]]),
        configure: () => undefined,
      }),
    };
    const registry = defaultProbeRegistry().register(custom);
    assert.throws(() => new ProbeRegistry().register(custom).register(custom), /duplicate probe/);
    const rec = (t: number, x: number) => { const b = Buffer.alloc(8); b.writeUInt32LE(t, 0); b.writeUInt32LE(x, 4); return b; };
    const fake = new FakeNative({ batches: { tcp: [encode([rec(7, 1), rec(9, 2), rec(7, 3)])] } });
    const f = createEbpfReceiverFactory({ native: fake, registry });
    const issues: Issue[] = [];
    const cfg = f.configSchema.parse({ proc_root: empty, cgroup_root: empty, ring_buffer: { drain_interval: '1ms' }, probes: { tcp: { enabled: false } } }, ['ebpf'], issues, f.createDefaultConfig()) as EbpfConfig;
    const telemetry = new SelfTelemetry();
    const c = f.createMetrics!(testSettings('ebpf/custom', 'receiver', telemetry), cfg, new Sink());
    await c.start(new TestHost());
    await new Promise((r) => setTimeout(r, 50));
    await c.shutdown();
    assert.deepEqual(seen, [1, 3]);
    assert.equal(telemetry.counterValue('sonde_ebpf_events_total', { probe: 'custom', type: 'seven' }), 2);
    assert.equal(telemetry.counterValue('sonde_ebpf_user_events_lost_total', { probe: 'custom', reason: 'unknown_type' }), 1);
    const needs: Issue[] = [];
    f.configSchema.parse({ probes: { process: { enabled: false } } }, ['ebpf'], needs, f.createDefaultConfig());
    assert.match(needs.map((i) => i.message).join(), /needs probe "process" enabled/);
  });
});

function encode(records: Buffer[]): Buffer {
  const HDR = ENUMS.BPF_RINGBUF_HDR_SZ;
  let total = 0;
  for (const r of records) total += (HDR + r.length + 7) & ~7;
  const out = Buffer.alloc(total);
  let off = 0;
  for (const r of records) {
    out.writeUInt32LE(r.length, off);
    r.copy(out, off + HDR);
    off += (HDR + r.length + 7) & ~7;
  }
  return out;
}

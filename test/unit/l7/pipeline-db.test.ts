// The database parsers (main's protocols/) through the same pipeline as HTTP: detection from the first chunk,
// spans on both ends, coroot and semconv metrics per protocol from the recorded conversations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HistogramMetricData, SumMetricData } from '@opentelemetry/sdk-metrics';
import { SpanKind } from '@opentelemetry/api';
import type { ConnInfo } from '../../../src/receivers/ebpf/l7/conn.js';
import { L7Pipeline } from '../../../src/receivers/ebpf/l7/pipeline.js';
import { protocolParsers } from '../../../src/receivers/ebpf/l7/protocols/index.js';
import { Direction } from '../../../src/receivers/ebpf/l7/types.js';
import { listFixtures, loadFixture, replay } from '../../helpers/l7-fixtures.js';
import { FAKE_CLOCK, HOST } from './helpers.js';

const DB: [string, string, number][] = [['postgresql', 'postgres_queries', 5432], ['mysql', 'mysql_queries', 3306], ['redis', 'redis_queries', 6379], ['memcached', 'memcached_queries', 11211]];

for (const [proto, coroot, port] of DB) {
  test(`${proto}: recorded conversations become CLIENT and SERVER spans and ${coroot} metrics`, () => {
    const parser = protocolParsers.find((p) => p.name === proto);
    assert.ok(parser);
    for (const naming of ['coroot', 'otel'] as const) {
      const p = new L7Pipeline({ host: HOST, clock: FAKE_CLOCK, metrics: { naming } });
      let expected = 0;
      let id = 1;
      for (const scenario of listFixtures(proto)) {
        const f = loadFixture(proto, scenario);
        for (const conv of f.connections) {
          const want = replay(parser, conv).length;
          const cport = 40000 + id;
          const client: ConnInfo = { id: id++, pid: 10, role: 'client', localIp: '10.0.0.1', localPort: cport, remoteIp: '10.0.0.5', remotePort: port, cgroupPath: '/app', fromStart: true, protocol: proto };
          const server: ConnInfo = { id: id++, pid: 20, role: 'server', localIp: '10.0.0.5', localPort: port, remoteIp: '10.0.0.1', remotePort: cport, cgroupPath: '/db', fromStart: true, protocol: proto };
          p.open(client);
          p.open(server);
          for (const c of conv.chunks) {
            p.chunk(client.id, c.dir === Direction.Request, 1e9 + c.tsNs, 0, c.bytes, c.length);
            p.chunk(server.id, c.dir !== Direction.Request, 1e9 + c.tsNs, 0, c.bytes, c.length);
          }
          p.close(client.id, 1e12);
          p.close(server.id, 1e12);
          expected += want;
        }
      }
      const spans = p.tick(2e12, true);
      assert.equal(spans.length, 2 * expected, `${proto} ${naming}`);
      assert.equal(spans.filter((s) => s.kind === SpanKind.SERVER).length, expected);
      const servers = spans.filter((s) => s.kind === SpanKind.SERVER && s.attributes['sonde.l7.incomplete'] === undefined);
      for (const s of servers) assert.equal(s.attributes['db.system.name'] === undefined, false, 'db attributes kept');
      const st = p.stats();
      assert.equal(st.tracker.parserErrors, 0);
      assert.equal(st.tracker.records, 2 * expected);
      const md = p.collectMetrics();
      const find = (cg: string, name: string) => md.find((r) => r.resource.attributes['sonde.cgroup.path'] === cg)?.scopeMetrics[0].metrics.find((m) => m.descriptor.name === name);
      if (naming === 'coroot') {
        const out = find('/app', `container_${coroot}_total`) as SumMetricData;
        const inb = find('/db', `container_${coroot.replace('_', '_inbound_')}_total`) as SumMetricData;
        assert.equal(out.dataPoints.reduce((n, d) => n + d.value, 0), expected);
        assert.equal(inb.dataPoints.reduce((n, d) => n + d.value, 0), expected);
        assert.ok(out.dataPoints.every((d) => ['ok', 'failed', 'unknown'].includes(d.attributes.status as string)));
        assert.ok(out.dataPoints.every((d) => d.attributes.destination === `10.0.0.5:${port}`));
      } else {
        const h = find('/app', 'db.client.operation.duration') as HistogramMetricData;
        assert.ok(h.dataPoints.length > 0);
        assert.ok(h.dataPoints.every((d) => d.attributes['server.port'] === port && typeof d.attributes['db.system.name'] === 'string'));
        assert.ok(find('/db', 'db.server.operation.duration'));
      }
    }
  });
}

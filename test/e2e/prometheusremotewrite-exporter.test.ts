// The prometheusremotewrite exporter against Debian's Prometheus 2.42 (remote-write receiver): every
// series and value through the real Service, the RW 2.0 → 1.0 fallback, 400 permanent and counted, a
// 30 s outage with exact sample counts (also with the persistent queue across an agent restart), and a
// full queue.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gaugeMetric, resourceMetrics } from '../../src/pdata/metrics.js';
import { hrTimeToMs, msToHrTime } from '../../src/pdata/time.js';
import { createLogger } from '../../src/service/logger.js';
import { makeMetrics, testResource } from '../helpers/data.js';
import { startService } from '../helpers/service.js';
import type { RunningService } from '../helpers/service.js';
import { TEST_HOST } from '../helpers/settings.js';
import { startPrometheus } from '../peers/index.js';
import type { PrometheusPeer } from '../peers/index.js';

const OUTAGE_MS = Number(process.env.SONDE_OUTAGE_MS ?? 30_000);
const tmp = mkdtempSync(join(tmpdir(), 'sonde-rw-e2e-'));
let prom: PrometheusPeer;

before(async () => {
  prom = await startPrometheus();
});
after(async () => {
  await prom?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

function yaml(extra = ''): string {
  return `
receivers:
  testgen:
processors:
  batch:
    timeout: 50ms
exporters:
  prometheusremotewrite:
    endpoint: ${prom.remoteWriteUrl}
    external_labels: { cluster: e2e }
    retry_on_failure: { initial_interval: 100ms, max_interval: 1s, max_elapsed_time: 0 }
${extra}
service:
  shutdown_timeout: 5s
  pipelines:
    metrics: { receivers: [testgen], processors: [batch], exporters: [prometheusremotewrite] }
`;
}

const NAMES = ['container_net_tcp_successful_connects_total', 'container_net_tcp_active_connections', 'http_server_request_duration_seconds_bucket',
  'http_server_request_duration_seconds_sum', 'http_server_request_duration_seconds_count', 'target_info'];

/** Samples stored per series of a job over the last hour (10 series per makeMetrics resource). */
async function sampleCounts(job: string): Promise<number[]> {
  const out: number[] = [];
  for (const n of NAMES) for (const r of await prom.query(`count_over_time(${n}{job="${job}"}[1h])`)) out.push(r.value);
  return out;
}

const push = (svc: RunningService, job: string, value = 1) => svc.receiver().metrics!.consumeMetrics(makeMetrics(testResource({ 'service.name': job }), value));

describe('prometheusremotewrite exporter → Prometheus 2.42', () => {
  test('every series and value arrives (counters, gauge, histogram buckets/sum/count, target_info), with ms timestamps; 2.0 falls back to 1.0', async () => {
    const logs: string[] = [];
    const svc = await startService(yaml(), { logger: createLogger({ level: 'info', write: (l) => logs.push(l) }) });
    const md = makeMetrics(testResource({ 'service.name': 'fields', 'k8s.namespace.name': 'prod', 'k8s.pod.name': 'web-1', 'k8s.container.name': 'app' }));
    const pointMs = Math.floor(hrTimeToMs(md[0].scopeMetrics[0].metrics[0].dataPoints[0].endTime));
    try {
      await svc.receiver().metrics!.consumeMetrics(md);
      await svc.service.shutdown();
    } finally {
      await svc.stop();
    }
    assert.ok(logs.some((l) => l.includes('falling back to 1.0')), 'Prometheus 2.42 does not speak RW 2.0: the exporter fell back');
    const common = { job: 'fields', cluster: 'e2e', machine_id: TEST_HOST.machineId, system_uuid: TEST_HOST.systemUuid, container_id: '/k8s/prod/web-1/app', app_id: '/k8s/prod/web' };
    const q = async (expr: string) => (await prom.query(expr)).map((r) => ({ labels: r.metric, value: r.value }));
    const byDest = (rows: Array<{ labels: Record<string, string>; value: number }>) => rows.sort((a, b) => (a.labels.destination ?? a.labels.le ?? '').localeCompare(b.labels.destination ?? b.labels.le ?? ''));
    assert.deepEqual(byDest(await q('container_net_tcp_successful_connects_total{job="fields"}')), [
      { labels: { __name__: 'container_net_tcp_successful_connects_total', ...common, destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' }, value: 3 },
      { labels: { __name__: 'container_net_tcp_successful_connects_total', ...common, destination: '10.0.0.2:6379', actual_destination: '10.0.0.2:6379' }, value: 5 },
    ]);
    assert.deepEqual(await q('container_net_tcp_active_connections{job="fields"}'), [
      { labels: { __name__: 'container_net_tcp_active_connections', ...common, destination: '10.0.0.1:5432', actual_destination: '10.0.0.1:5432' }, value: 2 },
    ]);
    const hl = { ...common, http_request_method: 'GET', http_response_status_code: '200' };
    const buckets = await q('http_server_request_duration_seconds_bucket{job="fields"}');
    assert.deepEqual(Object.fromEntries(buckets.map((b) => [b.labels.le, b.value])), { '0.005': 1, '0.01': 3, '0.025': 3, '+Inf': 4 });
    assert.deepEqual(buckets.find((b) => b.labels.le === '+Inf')!.labels, { __name__: 'http_server_request_duration_seconds_bucket', ...hl, le: '+Inf' });
    assert.deepEqual(await q('http_server_request_duration_seconds_sum{job="fields"}'), [{ labels: { __name__: 'http_server_request_duration_seconds_sum', ...hl }, value: 0.1 }]);
    assert.deepEqual(await q('http_server_request_duration_seconds_count{job="fields"}'), [{ labels: { __name__: 'http_server_request_duration_seconds_count', ...hl }, value: 4 }]);
    assert.deepEqual(await q('target_info{job="fields"}'), [{ labels: {
      __name__: 'target_info', job: 'fields', cluster: 'e2e', container_id: 'abc123', k8s_namespace_name: 'prod', k8s_pod_name: 'web-1', k8s_container_name: 'app',
    }, value: 1 }]);
    const ts = await q('timestamp(container_net_tcp_active_connections{job="fields"})');
    assert.equal(Math.round(ts[0].value * 1000), pointMs, 'sample timestamp = the point\'s end time in ms');
  });

  test('a 400 from Prometheus (samples out of bounds) is not retried and is counted', async () => {
    const svc = await startService(yaml('    remote_write_version: "1.0"\n'));
    try {
      const old = msToHrTime(Date.now() - 5 * 3600_000);
      await svc.receiver().metrics!.consumeMetrics([resourceMetrics(testResource({ 'service.name': 'too-old' }), { name: 's' }, [
        gaugeMetric('ancient_gauge', '', '', [{ startTime: old, endTime: old, attributes: {}, value: 1 }, { startTime: old, endTime: old, attributes: { a: 'b' }, value: 2 }]),
      ])]);
      await svc.service.shutdown();
    } finally {
      await svc.stop();
    }
    assert.equal(svc.counter('sonde_exporter_dropped_items_total', { reason: 'permanent_error' }), 2);
    assert.equal(svc.counter('sonde_exporter_retries_total'), 0);
    assert.deepEqual(await prom.query('ancient_gauge'), []);
  });

  test(`outage: Prometheus stopped for ${OUTAGE_MS / 1000}s while metrics keep flowing; every sample arrives, in order`, { timeout: OUTAGE_MS + 60_000 }, async () => {
    const svc = await startService(yaml());
    let pushes = 0;
    try {
      await push(svc, 'rw-outage');
      pushes++;
      await prom.halt();
      const end = Date.now() + OUTAGE_MS;
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 1000));
        await push(svc, 'rw-outage');
        pushes++;
      }
      await prom.restart();
      // Every series of every shard: 2 counters, 1 gauge, 4 buckets, sum, count, target_info.
      const deadline = Date.now() + 60_000;
      let got: number[] = [];
      while (Date.now() < deadline) {
        got = await sampleCounts('rw-outage');
        if (got.length === 10 && got.every((v) => v >= pushes)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.deepEqual(got, new Array(10).fill(pushes), 'one sample per push for each of the 10 series, none lost');
      assert.equal(svc.counter('sonde_exporter_dropped_items_total'), 0);
      assert.ok(svc.counter('sonde_exporter_retries_total') > 0);
    } finally {
      if (!prom.running) await prom.restart();
      await svc.stop();
    }
  });

  test('outage with a persistent queue and an agent restart in the middle: every sample arrives', { timeout: OUTAGE_MS + 60_000 }, async () => {
    const cfg = yaml(`    sending_queue: { storage: ${join(tmp, 'rwq')} }\n`);
    let pushes = 0;
    await prom.halt();
    try {
      const a = await startService(cfg);
      const half = Date.now() + OUTAGE_MS / 2;
      while (Date.now() < half) {
        await push(a, 'rw-restart');
        pushes++;
        await new Promise((r) => setTimeout(r, 1000));
      }
      await a.stop();
      assert.equal(a.counter('sonde_exporter_dropped_items_total'), 0);
      const b = await startService(cfg);
      try {
        const end = Date.now() + OUTAGE_MS / 2;
        while (Date.now() < end) {
          await push(b, 'rw-restart');
          pushes++;
          await new Promise((r) => setTimeout(r, 1000));
        }
        await prom.restart();
        const deadline = Date.now() + 60_000;
        let got: number[] = [];
        while (Date.now() < deadline) {
          got = await sampleCounts('rw-restart');
          if (got.length === 10 && got.every((v) => v >= pushes)) break;
          await new Promise((r) => setTimeout(r, 250));
        }
        assert.deepEqual(got, new Array(10).fill(pushes), 'every series has one sample per push across the restart');
      } finally {
        await b.stop();
      }
    } finally {
      if (!prom.running) await prom.restart();
    }
  });

  test('queue full while Prometheus is down: drops are counted and memory stays bounded', { timeout: 120_000 }, async () => {
    const svc = await startService(yaml('    sending_queue: { queue_size: 20000, queue_bytes: 4MiB }\n'));
    await prom.halt();
    try {
      const heap0 = process.memoryUsage().heapUsed;
      let points = 0;
      for (let i = 0; i < 300; i++) {
        const md = Array.from({ length: 100 }, (_, j) => makeMetrics(testResource({ 'service.name': `flood-${j}` }), i)[0]);
        await svc.receiver().metrics!.consumeMetrics(md);
        points += 400;
      }
      await new Promise((r) => setTimeout(r, 200));
      const heapGrowth = process.memoryUsage().heapUsed - heap0;
      const full = svc.counter('sonde_exporter_dropped_items_total', { reason: 'queue_full' });
      assert.ok(full >= points - 20_000 - 5 * 50_000, `queue_full drops: ${full} of ${points}`);
      assert.ok(heapGrowth < 80 * 1024 * 1024, `heap grew by ${(heapGrowth / 1048576).toFixed(1)} MiB`);
      await svc.stop();
      assert.equal(svc.counter('sonde_exporter_dropped_items_total'), points, 'every point accounted for');
    } finally {
      await prom.restart();
    }
  });
});

// A whole pipeline through the real Service: testgen receiver → batch → file + prometheus (+ debug).
// The file must hold valid OTLP-JSON lines; the scrape endpoint must serve the metrics.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadServiceConfig } from '../../src/cli.js';
import { nopLogger } from '../../src/service/logger.js';
import { Service } from '../../src/service/service.js';
import { componentsWithTestReceiver } from '../helpers/components.js';
import { TEST_HOST } from '../helpers/settings.js';

const dir = mkdtempSync(join(tmpdir(), 'sonde-pipeline-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function config(extra = ''): string {
  return `
receivers:
  testgen:
    spans: 250
    metric_batches: 3
    logs: 7
processors:
  batch:
    timeout: 50ms
    send_batch_size: 100
exporters:
  file:
    path: ${join(dir, 'out.jsonl')}
  prometheus:
    endpoint: 127.0.0.1:0
    const_labels: { cluster: test }
  debug:
    verbosity: basic
    summary_interval: 1h
service:
  telemetry:
    metrics:
      address: 127.0.0.1:0
  pipelines:
    traces:
      receivers: [testgen]
      processors: [batch]
      exporters: [file]
    metrics:
      receivers: [testgen]
      processors: [batch]
      exporters: [file, prometheus, debug]
    logs:
      receivers: [testgen]
      exporters: [file]
${extra}`;
}

test('testgen → batch → file + prometheus round-trips spans, metrics and logs', async () => {
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, config());
  const { config: cfg } = loadServiceConfig(file, componentsWithTestReceiver());
  const svc = new Service(cfg, { logger: nopLogger(), host: TEST_HOST });
  await svc.start();
  try {
    const health = svc.health();
    assert.ok(health.ready, JSON.stringify(health));
    assert.ok(svc.telemetryAddress);
    // Wait until the batch processor has flushed everything into the file exporter.
    const deadline = Date.now() + 5000;
    while (svc.telemetry.counterValue('sonde_exporter_sent_spans_total', { exporter: 'file' }) < 250 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(svc.telemetry.counterValue('sonde_exporter_sent_spans_total', { exporter: 'file' }), 250);
    assert.equal(svc.telemetry.counterValue('sonde_receiver_accepted_spans_total', { receiver: 'testgen' }), 250);
    assert.equal(svc.telemetry.counterValue('sonde_processor_incoming_items_total', { processor: 'batch', pipeline: 'traces' }), 250);
    assert.equal(svc.telemetry.counterValue('sonde_processor_outgoing_items_total', { processor: 'batch', pipeline: 'traces' }), 250);

    // Self-telemetry endpoint.
    const selfMetrics = await (await fetch(`http://${svc.telemetryAddress}/metrics`)).text();
    assert.match(selfMetrics, /sonde_receiver_accepted_spans_total\{receiver="testgen"\} 250/);
    assert.match(selfMetrics, /sonde_process_memory_rss_bytes \d+/);
    assert.equal((await fetch(`http://${svc.telemetryAddress}/healthz`)).status, 200);
    assert.equal((await fetch(`http://${svc.telemetryAddress}/readyz`)).status, 200);
  } finally {
    await svc.shutdown();
  }
  // After shutdown: every line of the file is one valid OTLP-JSON export request.
  const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n');
  let spans = 0;
  let points = 0;
  let logs = 0;
  for (const line of lines) {
    const req = JSON.parse(line) as Record<string, unknown[]>;
    const keys = Object.keys(req);
    assert.equal(keys.length, 1, line.slice(0, 200));
    if (req.resourceSpans) {
      for (const rs of req.resourceSpans as Array<{ resource: { attributes: Array<{ key: string }> }; scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; startTimeUnixNano: string; name: string; kind: number }> }> }>) {
        assert.ok(rs.resource.attributes.some((a) => a.key === 'service.name'));
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            assert.match(s.traceId, /^[0-9a-f]{32}$/);
            assert.match(s.spanId, /^[0-9a-f]{16}$/);
            assert.match(s.startTimeUnixNano, /^\d{19}$/);
            assert.equal(s.name, 'GET /api/items');
            assert.ok(s.kind === 2 || s.kind === 3);
            spans++;
          }
        }
      }
    } else if (req.resourceMetrics) {
      for (const rm of req.resourceMetrics as Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; sum?: { dataPoints: unknown[] }; gauge?: { dataPoints: unknown[] }; histogram?: { dataPoints: Array<{ bucketCounts: string[]; explicitBounds: number[] }> } }> }> }>) {
        for (const sm of rm.scopeMetrics) {
          for (const m of sm.metrics) {
            const dps = m.sum?.dataPoints ?? m.gauge?.dataPoints ?? m.histogram?.dataPoints ?? [];
            if (m.histogram) assert.equal(m.histogram.dataPoints[0].bucketCounts.length, m.histogram.dataPoints[0].explicitBounds.length + 1);
            points += dps.length;
          }
        }
      }
    } else if (req.resourceLogs) {
      for (const rl of req.resourceLogs as Array<{ scopeLogs: Array<{ logRecords: Array<{ body: { stringValue: string } }> }> }>) {
        for (const sl of rl.scopeLogs) {
          for (const r of sl.logRecords) {
            assert.match(r.body.stringValue, /^log line \d+$/);
            logs++;
          }
        }
      }
    } else {
      assert.fail(`unexpected line ${line.slice(0, 100)}`);
    }
  }
  assert.equal(spans, 250);
  assert.equal(points, 12);
  assert.equal(logs, 7);
});

test('the prometheus exporter serves the pipeline\'s metrics with coroot labels and const labels', async () => {
  const file = join(dir, 'pipeline2.yaml');
  writeFileSync(file, config().replace(join(dir, 'out.jsonl'), join(dir, 'out2.jsonl')));
  const { config: cfg } = loadServiceConfig(file, componentsWithTestReceiver());
  const svc = new Service(cfg, { logger: nopLogger(), host: TEST_HOST });
  await svc.start();
  try {
    const url = await scrapeUrl(svc);
    let body = '';
    const deadline = Date.now() + 5000;
    while (!body.includes('container_net_tcp_successful_connects_total') && Date.now() < deadline) {
      body = await (await fetch(url)).text();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(body, /# TYPE container_net_tcp_successful_connects_total counter/);
    assert.match(body, /container_net_tcp_successful_connects_total\{actual_destination="10\.0\.0\.1:5432",cluster="test",destination="10\.0\.0\.1:5432",machine_id="0123456789abcdef0123456789abcdef",system_uuid="4c4c4544-0000-1111-2222-333344445555"\} 3/);
    assert.match(body, /# TYPE http_server_request_duration_seconds histogram/);
    assert.match(body, /http_server_request_duration_seconds_bucket\{.*le="0\.01".*\} 3/);
    assert.match(body, /http_server_request_duration_seconds_bucket\{.*le="\+Inf".*\} 4/);
    assert.match(body, /http_server_request_duration_seconds_count\{[^}]*\} 4/);
    const om = await fetch(url, { headers: { accept: 'application/openmetrics-text;version=1.0.0' } });
    assert.match(om.headers.get('content-type') ?? '', /text\/plain/); // enable_open_metrics is off by default
  } finally {
    await svc.shutdown();
  }
});

async function scrapeUrl(svc: Service): Promise<string> {
  const addr = svc.componentAddress('exporter prometheus (metrics)');
  assert.ok(addr, 'prometheus exporter address');
  return `http://${addr}/metrics`;
}

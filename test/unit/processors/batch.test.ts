import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchProcessorFactory } from '../../../src/processors/batch/factory.js';
import type { BatchConfig } from '../../../src/processors/batch/config.js';
import { countPoints } from '../../../src/pdata/metrics.js';
import { splitMetrics } from '../../../src/pdata/split.js';
import { makeMetrics, makeSpans } from '../../helpers/data.js';
import { Sink } from '../../helpers/sinks.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

function cfg(over: Partial<BatchConfig>): BatchConfig {
  return { ...batchProcessorFactory.createDefaultConfig(), ...over };
}

test('sends by size, splits at send_batch_max_size, counts triggers', async () => {
  const sink = new Sink();
  const set = testSettings('batch', 'processor');
  const p = batchProcessorFactory.createTraces!(set, cfg({ send_batch_size: 10, send_batch_max_size: 10, timeout: 60_000 }), sink);
  await p.start(new TestHost());
  await p.consumeTraces(makeSpans(7));
  assert.equal(sink.spanCount, 0);
  await p.consumeTraces(makeSpans(18)); // 25 buffered ≥ 10 → 10 + 10 + 5
  await sink.waitFor(() => sink.spanCount === 25);
  assert.deepEqual(sink.traces.map((t) => t.length), [10, 10, 5]);
  assert.equal(set.telemetry.counterValue('sonde_processor_batch_batches_sent_total', { trigger: 'size' }), 3);
  await p.shutdown();
});

test('sends a partial batch after the timeout', async () => {
  const sink = new Sink();
  const set = testSettings('batch', 'processor');
  const p = batchProcessorFactory.createMetrics!(set, cfg({ send_batch_size: 1000, timeout: 30 }), sink);
  await p.start(new TestHost());
  await p.consumeMetrics(makeMetrics());
  await p.consumeMetrics(makeMetrics());
  await sink.waitFor(() => sink.pointCount === 8, 2000);
  assert.equal(sink.metrics.length, 1);
  assert.equal(set.telemetry.counterValue('sonde_processor_batch_batches_sent_total', { trigger: 'timeout' }), 1);
  await p.shutdown();
});

test('shutdown flushes what is buffered; refused batches are counted', async () => {
  const sink = new Sink();
  const set = testSettings('batch', 'processor');
  const p = batchProcessorFactory.createTraces!(set, cfg({ send_batch_size: 1000, timeout: 60_000 }), sink);
  await p.start(new TestHost());
  await p.consumeTraces(makeSpans(42));
  await p.shutdown();
  assert.equal(sink.spanCount, 42);

  const failing = new Sink();
  failing.failWith = new Error('backend says no');
  const set2 = testSettings('batch/f', 'processor');
  const p2 = batchProcessorFactory.createTraces!(set2, cfg({ send_batch_size: 5 }), failing);
  await p2.start(new TestHost());
  await p2.consumeTraces(makeSpans(5));
  await p2.shutdown();
  assert.equal(set2.telemetry.counterValue('sonde_processor_batch_send_failed_items_total'), 5);
});

test('splitMetrics cuts between data points and keeps resource/scope grouping', () => {
  const md = [...makeMetrics(), ...makeMetrics()]; // 2 resources × 4 points
  const [head, tail] = splitMetrics(md, 5);
  assert.equal(countPoints(head), 5);
  assert.equal(countPoints(tail), 3);
  assert.equal(head.length, 2);
  assert.equal(head[1].scopeMetrics[0].metrics.length, 1);
  assert.equal(head[1].scopeMetrics[0].metrics[0].dataPoints.length, 1);
  assert.equal(tail[0].scopeMetrics[0].metrics[0].dataPoints.length, 1);
  assert.equal(tail[0].resource, md[1].resource);
});

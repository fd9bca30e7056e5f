import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { PermanentError, QueueFullError, RetryableError, ThrottleError } from '../../../src/consumer/errors.js';
import type { QueueConfig, RetryConfig } from '../../../src/helpers/exporter-config.js';
import { defaultQueueConfig, defaultRetryConfig } from '../../../src/helpers/exporter-config.js';
import type { PushFn, Request } from '../../../src/helpers/exporter-helper.js';
import { Backoff, ExporterHelper } from '../../../src/helpers/exporter-helper.js';
import { DiskStore } from '../../../src/helpers/persistent-queue.js';
import { SelfTelemetry } from '../../../src/service/telemetry.js';
import { testSettings } from '../../helpers/settings.js';

const root = mkdtempSync(join(tmpdir(), 'sonde-helper-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirSeq = 0;
const freshDir = () => join(root, `q${dirSeq++}`);

const fastRetry = (o: Partial<RetryConfig> = {}): RetryConfig => ({ ...defaultRetryConfig(), initial_interval: 5, max_interval: 20, max_elapsed_time: 0, ...o });
const req = (n: number, tag: string, partition = 0, key = ''): Request => ({ items: n, data: Buffer.from(`${tag};`), key, partition });

function helper(push: PushFn, queue: Partial<QueueConfig> = {}, retry: Partial<RetryConfig> = {}, opts: { ordered?: boolean; telemetry?: SelfTelemetry; id?: string } = {}) {
  const telemetry = opts.telemetry ?? new SelfTelemetry();
  const set = testSettings(opts.id ?? 'otlp/test', 'exporter', telemetry);
  const h = new ExporterHelper(set, { signal: 'traces', timeoutMs: 1000, queue: { ...defaultQueueConfig(), ...queue }, retry: fastRetry(retry), push, ordered: opts.ordered });
  const dropped = (reason: string) => telemetry.counterValue('sonde_exporter_dropped_items_total', { reason });
  const sent = () => telemetry.counterValue('sonde_exporter_sent_spans_total');
  return { h, telemetry, dropped, sent };
}


describe('Backoff', () => {
  test('grows by the multiplier up to max_interval, each wait jittered within ±randomization_factor', () => {
    const cfg = { ...defaultRetryConfig(), initial_interval: 100, max_interval: 400, multiplier: 2, randomization_factor: 0.5 };
    const lo = new Backoff(cfg, () => 0);
    assert.deepEqual([lo.next(), lo.next(), lo.next(), lo.next()], [50, 100, 200, 200]);
    const hi = new Backoff(cfg, () => 0.999999);
    assert.deepEqual([hi.next(), hi.next(), hi.next(), hi.next()], [150, 300, 600, 600]);
  });
});

describe('ExporterHelper (in-memory queue)', () => {
  test('sends every request with several consumers and counts items', async () => {
    const got: string[] = [];
    const { h, sent } = helper(async (r) => { got.push(r.data.toString()); }, { num_consumers: 4 });
    await h.start();
    for (let i = 0; i < 50; i++) await h.enqueue([req(2, `r${i}`)]);
    await h.shutdown();
    assert.equal(sent(), 100);
    assert.equal(got.join('').split(';').filter(Boolean).length, 50);
  });

  test('merges queued requests of the same key by concatenation, up to batch.max_size', async () => {
    const pushes: Request[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { h } = helper(async (r) => { await gate; pushes.push(r); }, { num_consumers: 1, batch: { ...defaultQueueConfig().batch, max_size: 6 } });
    await h.start();
    for (let i = 0; i < 7; i++) await h.enqueue([req(2, `a${i}`)]);
    await h.enqueue([req(1, 'other', 0, 'k2')]);
    release();
    await h.shutdown();
    // the first is taken alone while the gate is closed; the rest merge 3 by 3 (6 items); key k2 alone.
    assert.deepEqual(pushes.map((p) => [p.items, p.key, p.data.toString()]), [
      [2, '', 'a0;'], [6, '', 'a1;a2;a3;'], [6, '', 'a4;a5;a6;'], [1, 'k2', 'other;'],
    ]);
  });

  test('a permanent error drops and counts without retrying', async () => {
    let calls = 0;
    const { h, dropped, sent } = helper(async () => { calls++; throw new PermanentError('400 bad sample'); });
    await h.start();
    await h.enqueue([req(3, 'x')]);
    await h.shutdown();
    assert.equal(calls, 1);
    assert.equal(dropped('permanent_error'), 3);
    assert.equal(sent(), 0);
  });

  test('retryable errors are retried until success; retries are counted', async () => {
    let calls = 0;
    const { h, sent, telemetry } = helper(async () => { if (++calls < 4) throw new RetryableError('503'); });
    await h.start();
    await h.enqueue([req(5, 'x')]);
    await h.shutdown();
    assert.equal(calls, 4);
    assert.equal(sent(), 5);
    assert.equal(telemetry.counterValue('sonde_exporter_retries_total'), 3);
  });

  test('unknown errors are retryable (the Collector\'s default)', async () => {
    let calls = 0;
    const { h, sent } = helper(async () => { if (++calls < 2) throw new Error('ECONNRESET'); });
    await h.start();
    await h.enqueue([req(1, 'x')]);
    await h.shutdown();
    assert.equal(sent(), 1);
  });

  test('a ThrottleError\'s retry-after overrides a shorter backoff', async () => {
    const at: number[] = [];
    const { h, sent } = helper(async () => { at.push(Date.now()); if (at.length === 1) throw new ThrottleError('429', 150); });
    await h.start();
    await h.enqueue([req(1, 'x')]);
    await h.shutdown();
    assert.equal(sent(), 1);
    assert.ok(at[1] - at[0] >= 140, `waited only ${at[1] - at[0]}ms`);
  });

  test('retries stop after max_elapsed_time: dropped as retries_exhausted', async () => {
    const { h, dropped } = helper(async () => { throw new RetryableError('down'); }, {}, { max_elapsed_time: 40 });
    await h.start();
    await h.enqueue([req(2, 'x')]);
    await h.shutdown();
    assert.equal(dropped('retries_exhausted'), 2);
  });

  test('with retry disabled a transient failure drops at once', async () => {
    let calls = 0;
    const { h, dropped } = helper(async () => { calls++; throw new RetryableError('down'); }, {}, { enabled: false });
    await h.start();
    await h.enqueue([req(2, 'x')]);
    await h.shutdown();
    assert.equal(calls, 1);
    assert.equal(dropped('retries_exhausted'), 2);
  });

  test('an attempt that exceeds the timeout is abandoned and retried', async () => {
    let calls = 0;
    const telemetry = new SelfTelemetry();
    const set = testSettings('otlp/t', 'exporter', telemetry);
    const h = new ExporterHelper(set, {
      signal: 'traces', timeoutMs: 30, queue: defaultQueueConfig(), retry: fastRetry(),
      push: (_r, signal) => (++calls === 1 ? new Promise((_, rej) => signal.addEventListener('abort', () => rej(signal.reason as Error))) : Promise.resolve()),
    });
    await h.start();
    await h.enqueue([req(1, 'x')]);
    await h.shutdown();
    assert.equal(calls, 2);
    assert.equal(telemetry.counterValue('sonde_exporter_sent_spans_total'), 1);
  });

  test('a full queue refuses data with QueueFullError, counts it, and stays within its bounds', async () => {
    const { h, dropped } = helper(() => new Promise(() => undefined), { queue_size: 10, num_consumers: 1 });
    await h.start();
    await h.enqueue([req(4, 'a')]); // taken by the consumer (in flight: still counted)
    await h.enqueue([req(4, 'b')]);
    await assert.rejects(h.enqueue([req(4, 'c')]), QueueFullError);
    assert.equal(dropped('queue_full'), 4);
    assert.ok(h.queuedItems <= 10);
    await h.shutdown(AbortSignal.timeout(50));
    assert.equal(dropped('shutdown'), 8);
  });

  test('the byte bound applies too', async () => {
    const { h, dropped } = helper(() => new Promise(() => undefined), { queue_bytes: 10, num_consumers: 1 });
    await h.start();
    await h.enqueue([{ items: 1, data: Buffer.alloc(8), key: '', partition: 0 }]);
    await assert.rejects(h.enqueue([{ items: 1, data: Buffer.alloc(8), key: '', partition: 0 }]), QueueFullError);
    assert.equal(dropped('queue_full'), 1);
    await h.shutdown(AbortSignal.timeout(20));
  });

  test('block_on_overflow makes the caller wait for room instead of dropping', async () => {
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    const { h, dropped, sent } = helper(async () => { await gate; }, { queue_size: 4, num_consumers: 1, block_on_overflow: true });
    await h.start();
    await h.enqueue([req(4, 'a')]);
    let done = false;
    const p = h.enqueue([req(4, 'b')]).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(done, false);
    release();
    gate = Promise.resolve();
    await p;
    await h.shutdown();
    assert.equal(dropped('queue_full'), 0);
    assert.equal(sent(), 8);
  });

  test('ordered lanes keep per-partition order while another lane retries', async () => {
    const seen = new Map<number, string[]>();
    let failP1 = 3;
    const { h } = helper(async (r) => {
      if (r.partition === 1 && failP1-- > 0) throw new RetryableError('503');
      for (const tag of r.data.toString().split(';').filter(Boolean)) (seen.get(r.partition % 3) ?? seen.set(r.partition % 3, []).get(r.partition % 3)!).push(tag);
    }, { num_consumers: 3 }, {}, { ordered: true });
    await h.start();
    assert.equal(h.lanes, 3);
    for (let i = 0; i < 30; i++) await h.enqueue([req(1, `p0-${i}`, 0), req(1, `p1-${i}`, 1), req(1, `p2-${i}`, 5)]);
    await h.shutdown();
    for (const [p, tags] of [[0, 'p0'], [1, 'p1'], [2, 'p2']] as const) {
      assert.deepEqual(seen.get(p), Array.from({ length: 30 }, (_, i) => `${tags}-${i}`));
    }
  });

  test('shutdown drains a working queue completely', async () => {
    const { h, sent } = helper(async () => { await new Promise((r) => setTimeout(r, 2)); }, { num_consumers: 2 });
    await h.start();
    for (let i = 0; i < 20; i++) await h.enqueue([req(1, `x${i}`)]);
    await h.shutdown();
    assert.equal(sent(), 20);
  });

  test('shutdown at the deadline abandons a hung push and counts what is lost; never hangs', async () => {
    const { h, dropped } = helper(() => new Promise(() => undefined), { num_consumers: 1 });
    await h.start();
    await h.enqueue([req(2, 'a')]);
    await h.enqueue([req(3, 'b')]);
    const t0 = Date.now();
    await h.shutdown(AbortSignal.timeout(30));
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(dropped('shutdown'), 5);
    await assert.rejects(h.enqueue([req(1, 'late')]), /shut down/);
    assert.equal(dropped('shutdown'), 6);
  });

  test('shutdown without start drops (and counts) what was queued; second shutdown is a no-op', async () => {
    const { h, dropped } = helper(async () => undefined);
    await h.enqueue([req(2, 'a')]);
    await h.shutdown();
    await h.shutdown();
    assert.equal(dropped('shutdown'), 2);
  });

  test('without a queue, consume waits for the send and rejects with the final error', async () => {
    const { h, dropped } = helper(async (r) => { if (r.data.toString() === 'bad;') throw new PermanentError('nope'); }, { enabled: false });
    await h.start();
    await h.enqueue([req(1, 'ok')]);
    await assert.rejects(h.enqueue([req(2, 'bad')]), PermanentError);
    assert.equal(dropped('permanent_error'), 2);
    await h.shutdown();
  });

  test('partial success: rejected items are counted, the rest as sent', async () => {
    const { h, dropped, sent } = helper(async () => ({ rejected: 2, message: 'bad spans' }));
    await h.start();
    await h.enqueue([req(5, 'x')]);
    await h.shutdown();
    assert.equal(sent(), 3);
    assert.equal(dropped('rejected'), 2);
  });

  test('queue gauges are exported per exporter and signal', async () => {
    const telemetry = new SelfTelemetry();
    const a = helper(() => new Promise(() => undefined), { num_consumers: 1, queue_size: 1000 }, {}, { telemetry, id: 'otlp/a' });
    const b = helper(async () => undefined, {}, {}, { telemetry, id: 'otlp/b' });
    await a.h.start();
    await a.h.enqueue([req(7, 'x')]);
    const text = telemetry.render();
    assert.match(text, /sonde_exporter_queue_size\{exporter="otlp\/a",otel_signal="traces"\} 7/);
    assert.match(text, /sonde_exporter_queue_capacity\{exporter="otlp\/a",otel_signal="traces"\} 1000/);
    assert.match(text, /sonde_exporter_queue_capacity\{exporter="otlp\/b",otel_signal="traces"\} 200000/);
    await a.h.shutdown(AbortSignal.timeout(10));
    await b.h.shutdown();
  });
});

describe('ExporterHelper (persistent queue)', () => {
  test('data written during an outage survives a restart and is sent exactly once afterwards', async () => {
    const storage = freshDir();
    const first = helper(async () => { throw new RetryableError('backend down'); }, { storage, num_consumers: 2 });
    await first.h.start();
    for (let i = 0; i < 10; i++) await first.h.enqueue([req(1, `d${i}`)]);
    await first.h.shutdown(AbortSignal.timeout(50));
    assert.equal(first.dropped('shutdown'), 0, 'a persistent queue drops nothing at shutdown');
    const got: string[] = [];
    const second = helper(async (r) => { got.push(...r.data.toString().split(';').filter(Boolean)); }, { storage });
    await second.h.start();
    await second.h.shutdown();
    assert.deepEqual(got.sort(), Array.from({ length: 10 }, (_, i) => `d${i}`).sort());
    const third = helper(async (r) => { got.push(r.data.toString()); }, { storage });
    await third.h.start();
    await third.h.shutdown();
    assert.equal(got.length, 10, 'acknowledged data is not replayed');
    const dir = join(storage, 'otlp_test-traces');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.seg') && readFileSync(join(dir, f)).length > 0), []);
  });

  test('storage_size caps the disk usage: the excess is dropped as storage_full', async () => {
    const storage = freshDir();
    const { h, dropped } = helper(() => new Promise(() => undefined), { storage, storage_size: 300, num_consumers: 1 });
    await h.start();
    let refused = 0;
    for (let i = 0; i < 20; i++) await h.enqueue([{ items: 1, data: Buffer.alloc(40), key: '', partition: 0 }]).catch(() => refused++);
    assert.ok(refused > 0);
    assert.equal(dropped('storage_full'), refused);
    assert.ok(h.storageBytes <= 300);
    await h.shutdown(AbortSignal.timeout(10));
  });

  test('a damaged record and a torn tail are skipped and counted; the others are replayed', async () => {
    const dir = freshDir();
    const store = new DiskStore({ dir, maxBytes: 1 << 20 });
    store.open();
    for (let i = 0; i < 4; i++) store.append(Buffer.from(`payload-${i}`), 1, 0, 'k');
    store.close();
    const seg = readdirSync(dir).find((f) => f.endsWith('.seg'))!;
    const buf = readFileSync(join(dir, seg));
    const recLen = buf.length / 4;
    buf[recLen + 30] ^= 0xff; // flip a byte in record 1's data
    writeFileSync(join(dir, seg), Buffer.concat([buf, buf.subarray(0, 10)])); // plus a torn partial record
    const telemetry = new SelfTelemetry();
    const got: string[] = [];
    const h = new ExporterHelper(testSettings('otlp/x', 'exporter', telemetry), {
      signal: 'traces', timeoutMs: 1000, retry: fastRetry(), storageName: '.',
      queue: { ...defaultQueueConfig(), storage: dir },
      push: async (r) => { got.push(r.data.toString()); },
    });
    await h.start();
    await h.shutdown();
    assert.equal(got.join('|').split('payload-').filter(Boolean).length, 3);
    assert.ok(!got.join('').includes('payload-1'));
    assert.equal(telemetry.counterValue('sonde_exporter_queue_corrupt_records_total'), 2);
  });

  test('acks survive a restart: only unacknowledged records come back', () => {
    const dir = freshDir();
    const a = new DiskStore({ dir, maxBytes: 1 << 20 });
    a.open();
    const recs = [0, 1, 2, 3, 4].map((i) => a.append(Buffer.from(`r${i}`), i + 1, i % 2, `key${i}`)!);
    a.ack(recs[1]);
    a.ack(recs[3]);
    a.close();
    const b = new DiskStore({ dir, maxBytes: 1 << 20 });
    const { replay, corrupt } = b.open();
    assert.equal(corrupt, 0);
    assert.deepEqual(replay.map((r) => [b.read(r).toString(), r.items, r.partition, r.key]), [['r0', 1, 0, 'key0'], ['r2', 3, 0, 'key2'], ['r4', 5, 0, 'key4']]);
    for (const r of replay) b.ack(r);
    b.close();
    assert.deepEqual(readdirSync(dir), [], 'a fully acknowledged segment is removed');
  });
});

// The conformance suite every registered factory must pass (the Collector's generated_component_test):
// type name format, default config validity, create→shutdown without start, shutdown twice,
// start→consume→shutdown per supported signal, frozen input never mutated by read-only consumers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Component, Signal } from '../../src/component/component.js';
import type { ExporterFactory, Factory, ProcessorFactory, ReceiverFactory } from '../../src/component/factory.js';
import { supportedSignals } from '../../src/component/factory.js';
import { TYPE_RE } from '../../src/component/id.js';
import { builtinComponents } from '../../src/components.js';
import type { Issue } from '../../src/config/schema.js';
import { INVALID } from '../../src/config/schema.js';
import type { AnyConsumer, Logs, LogsConsumer, Metrics, MetricsConsumer, Traces, TracesConsumer } from '../../src/consumer/consumer.js';
import { makeLogs, makeMetrics, makeSpans } from '../helpers/data.js';
import { deepFreeze } from '../helpers/freeze.js';
import { Sink } from '../helpers/sinks.js';
import { testSettings, TestHost } from '../helpers/settings.js';
import { fixturesDir } from '../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'sonde-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Settings a component needs to run in this suite beyond its defaults (a required path, a loopback port
 * instead of a fixed one). Every entry is justified; a factory whose default config is invalid on purpose
 * (a required field with no sensible default) lists that field here.
 */
const TEST_OVERRIDES: Record<string, Record<string, unknown>> = {
  'exporter/file': { path: join(dir, 'out.jsonl') }, // path is required: no default location
  'exporter/prometheus': { endpoint: '127.0.0.1:0' }, // the default port may be taken on a shared machine
  // Network exporters: no backend in this suite. A loopback port where nothing listens (connection
  // refused at once), no retries and a short timeout, so "consume" fails fast (counted as dropped) and
  // shutdown does not wait out a backoff.
  'exporter/otlp': { endpoint: '127.0.0.1:1', tls: { insecure: true }, timeout: '1s', retry_on_failure: { enabled: false } },
  'exporter/otlphttp': { endpoint: 'http://127.0.0.1:1', timeout: '1s', retry_on_failure: { enabled: false } },
  // endpoint is required (no sensible default, as in the Collector).
  'exporter/clickhouse': { endpoint: 'http://127.0.0.1:1', timeout: '1s', retry_on_failure: { enabled: false } },
  'exporter/prometheusremotewrite': { endpoint: 'http://127.0.0.1:1/api/v1/write', timeout: '1s', retry_on_failure: { enabled: false } },
  // The default runtime sockets may belong to a containerd/docker that other programs run on a shared machine:
  // point them into the temp dir (nothing listens there: the "missing runtime" path).
  'receiver/cgroups': { runtimes: noRuntimes() },
  'processor/container': { runtimes: noRuntimes() },
  // Loading BPF programs needs root and a kernel: replay the recorded ring-buffer fixtures through FakeNative
  // (the receiver's `native_binding: fake:<dir>` seam) so the suite runs unprivileged.
  'receiver/ebpf': { native_binding: `fake:${fixturesDir('ringbuf')}` },
};

function noRuntimes(): Record<string, unknown> {
  const none = [join(dir, 'no-runtime.sock')];
  return { docker: { endpoints: none }, containerd: { endpoints: none }, crio: { endpoints: none } };
}

/** Factories whose default config alone must already be complete. */
const REQUIRED_FIELDS: Record<string, string[]> = { 'exporter/file': ['path'], 'exporter/prometheusremotewrite': ['endpoint'] };

function key(f: Factory): string {
  return `${f.kind}/${f.type}`;
}

function configFor(f: Factory): unknown {
  const issues: Issue[] = [];
  const cfg = f.configSchema.parse(TEST_OVERRIDES[key(f)] ?? {}, [f.type], issues, f.createDefaultConfig());
  assert.notEqual(cfg, INVALID, `${key(f)} test config invalid: ${issues.map((i) => `${i.path.join('::')}: ${i.message}`).join('; ')}`);
  return cfg;
}

function dataFor(signal: Signal): Traces | Metrics | Logs {
  return signal === 'traces' ? makeSpans(5) : signal === 'metrics' ? makeMetrics() : makeLogs(5);
}

async function consume(c: AnyConsumer, signal: Signal, d: Traces | Metrics | Logs): Promise<void> {
  if (signal === 'traces') return (c as TracesConsumer).consumeTraces(d as Traces);
  if (signal === 'metrics') return (c as MetricsConsumer).consumeMetrics(d as Metrics);
  return (c as LogsConsumer).consumeLogs(d as Logs);
}

function create(f: ReceiverFactory | ProcessorFactory | ExporterFactory, signal: Signal, sink: Sink): Component & Partial<AnyConsumer> {
  const set = testSettings(`${f.type}/conformance`, f.kind);
  const cfg = configFor(f);
  const m = signal === 'traces' ? 'createTraces' : signal === 'metrics' ? 'createMetrics' : 'createLogs';
  const fn = f[m] as (...a: unknown[]) => Component;
  return f.kind === 'exporter' ? fn.call(f, set, cfg) : fn.call(f, set, cfg, sink);
}

const components = builtinComponents();
const all: Factory[] = [...components.receivers.values(), ...components.processors.values(), ...components.exporters.values(), ...components.extensions.values()];

test('every factory is registered under a valid, unique type', () => {
  assert.ok(all.length > 0);
  for (const f of all) assert.match(f.type, TYPE_RE, key(f));
});

for (const f of all) {
  describe(`conformance: ${key(f)}`, () => {
    test('createDefaultConfig has no side effects and returns a fresh object each time', () => {
      const a = f.createDefaultConfig();
      const b = f.createDefaultConfig();
      assert.notEqual(a, b);
      assert.deepEqual(a, b);
    });

    test('the default config validates (plus only the required fields listed for it)', () => {
      const issues: Issue[] = [];
      f.configSchema.parse({}, [f.type], issues, f.createDefaultConfig());
      const required = REQUIRED_FIELDS[key(f)] ?? [];
      const unexpected = issues.filter((i) => !required.includes(i.path[1] ?? ''));
      assert.deepEqual(unexpected, [], `default config of ${key(f)} is invalid`);
      assert.ok(f.configSchema.description !== undefined);
      configFor(f);
    });

    if (f.kind === 'extension') {
      test('create → shutdown without start; shutdown twice', async () => {
        const c = f.create(testSettings(`${f.type}/c`, 'extension'), configFor(f));
        await c.shutdown();
        await c.shutdown();
      });
      return;
    }

    test('stability lists exactly the signals the factory can create', () => {
      assert.deepEqual(Object.keys(f.stability).sort(), supportedSignals(f).sort());
      assert.ok(supportedSignals(f).length > 0);
    });

    for (const signal of supportedSignals(f)) {
      test(`${signal}: create → shutdown without start, then shutdown again`, async () => {
        const c = create(f, signal, new Sink());
        await c.shutdown();
        await c.shutdown();
      });

      test(`${signal}: start → consume → shutdown (twice)`, async () => {
        const sink = new Sink();
        const c = create(f, signal, sink);
        try {
          await c.start(new TestHost());
          if (f.kind !== 'receiver') await consume(c as AnyConsumer, signal, dataFor(signal));
        } finally {
          await c.shutdown();
          await c.shutdown();
        }
        if (f.kind === 'processor') assert.ok(sink.spanCount + sink.pointCount + sink.logCount > 0, 'a processor passed nothing on');
      });

      if (f.kind !== 'receiver') {
        test(`${signal}: never mutates frozen input when capabilities say read-only`, async (t) => {
          const sink = new Sink();
          const c = create(f, signal, sink);
          if ((c as AnyConsumer).capabilities.mutatesData) {
            t.skip('declares mutatesData: true');
            await c.shutdown();
            return;
          }
          try {
            await c.start(new TestHost());
            const d = dataFor(signal);
            deepFreeze(d);
            await consume(c as AnyConsumer, signal, d);
          } finally {
            await c.shutdown();
          }
        });
      }
    }
  });
}

// Service graph and lifecycle through the registry: start order, shutdown order, fan-out with clones for
// mutating consumers, start failure cleanup, fatal errors, idempotent shutdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Component, Host } from '../../../src/component/component.js';
import type { ExporterFactory, ProcessorFactory, ReceiverFactory } from '../../../src/component/factory.js';
import { parseYamlConfig } from '../../../src/config/load.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { s } from '../../../src/config/schema.js';
import type { Traces, TracesConsumer } from '../../../src/consumer/consumer.js';
import { MUTATES, READ_ONLY } from '../../../src/consumer/consumer.js';
import { nopLogger } from '../../../src/service/logger.js';
import { defineComponents } from '../../../src/service/registry.js';
import { Service, StartError } from '../../../src/service/service.js';
import { makeSpans } from '../../helpers/data.js';
import { TEST_HOST } from '../../helpers/settings.js';
import type { SpanRecord } from '../../../src/pdata/traces.js';

const events: string[] = [];
const received: Record<string, Traces[]> = {};
const receiverNext: Record<string, TracesConsumer> = {};
let hostOf: Record<string, Host> = {};

const cfgSchema = s.object({ fail_start: s.bool(), tag: s.string() });
type Cfg = { fail_start: boolean; tag: string };
const defaults = (): Cfg => ({ fail_start: false, tag: '' });

function lifecycle(name: string, cfg: Cfg, extra: object = {}): Component {
  return {
    ...extra,
    start: async (host: Host) => {
      events.push(`start ${name}`);
      hostOf[name] = host;
      if (cfg.fail_start) throw new Error(`boom in ${name}`);
    },
    shutdown: async () => {
      events.push(`stop ${name}`);
    },
  } as Component;
}

const recv: ReceiverFactory<Cfg> = {
  kind: 'receiver', type: 'r', description: '', stability: { traces: 'development' }, configSchema: cfgSchema, createDefaultConfig: defaults,
  createTraces: (set, cfg, next) => {
    receiverNext[set.id.toString()] = next;
    return lifecycle(set.id.toString(), cfg);
  },
};
const proc: ProcessorFactory<Cfg> = {
  kind: 'processor', type: 'p', description: '', stability: { traces: 'development' }, configSchema: cfgSchema, createDefaultConfig: defaults,
  createTraces: (set, cfg, next) => ({
    ...lifecycle(`${set.id.toString()}`, cfg),
    capabilities: MUTATES,
    consumeTraces: async (td: Traces) => {
      for (const sp of td) (sp as SpanRecord).attributes[`seen.${set.id.toString()}`] = cfg.tag;
      await next.consumeTraces(td);
    },
  }) as Component & TracesConsumer,
};
const exp: ExporterFactory<Cfg> = {
  kind: 'exporter', type: 'e', description: '', stability: { traces: 'development' }, configSchema: cfgSchema, createDefaultConfig: defaults,
  createTraces: (set, cfg) => ({
    ...lifecycle(set.id.toString(), cfg),
    capabilities: READ_ONLY,
    consumeTraces: async (td: Traces) => {
      (received[set.id.toString()] ??= []).push(td);
    },
  }) as Component & TracesConsumer,
};
const components = defineComponents({ receivers: [recv], processors: [proc], exporters: [exp] });

function service(yaml: string, onFatal?: (e: Error) => void): Service {
  const { config, issues } = resolveConfig(parseYamlConfig(yaml, 't.yaml'), components);
  assert.deepEqual(issues, []);
  return new Service(config!, { logger: nopLogger(), host: TEST_HOST, onFatal });
}

const yaml = (failing = '') => `
receivers: { r: {} }
processors: { p/a: { tag: A }, p/b: { tag: B ${failing === 'p/b' ? ', fail_start: true' : ''} } }
exporters: { e/1: {}, e/2: {} }
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    traces/one: { receivers: [r], processors: [p/a], exporters: [e/1] }
    traces/two: { receivers: [r], processors: [p/b], exporters: [e/1, e/2] }
`;

function reset(): void {
  events.length = 0;
  hostOf = {};
  for (const k of Object.keys(received)) delete received[k];
}

test('starts exporters → processors → receivers and stops in reverse; fan-out clones for mutating consumers', async () => {
  reset();
  const svc = service(yaml());
  await svc.start();
  assert.deepEqual(events, ['start e/1', 'start e/2', 'start p/a', 'start p/b', 'start r']);
  assert.ok(svc.ready);
  // The receiver fans out to two pipelines whose processors both mutate: each must work on its own copy.
  const spans = makeSpans(3);
  await receiverNext.r.consumeTraces(spans);
  assert.equal(received['e/1'].length, 2);
  assert.equal(received['e/2'].length, 1);
  const tags = received['e/1'].map((td) => Object.keys(td[0].attributes).filter((k) => k.startsWith('seen.')).join(',')).sort();
  assert.deepEqual(tags, ['seen.p/a', 'seen.p/b']);
  assert.equal(svc.telemetry.counterValue('sonde_receiver_accepted_spans_total', { receiver: 'r' }), 3);
  assert.equal(svc.telemetry.counterValue('sonde_processor_incoming_items_total', { processor: 'p/a' }), 3);
  events.length = 0;
  await svc.shutdown();
  await svc.shutdown(); // idempotent
  assert.deepEqual(events, ['stop r', 'stop p/b', 'stop p/a', 'stop e/2', 'stop e/1']);
});

test('a failing start stops what already started and names the component', async () => {
  reset();
  const svc = service(yaml('p/b'));
  await assert.rejects(svc.start(), (e: unknown) => e instanceof StartError && /processor p\/b \(pipeline traces\/two\) failed to start: boom in p\/b/.test((e as Error).message));
  assert.deepEqual(events, ['start e/1', 'start e/2', 'start p/a', 'start p/b', 'stop r', 'stop p/b', 'stop p/a', 'stop e/2', 'stop e/1']);
});

test('a fatal error reported by a component calls onFatal once and flips readiness', async () => {
  reset();
  const fatal: Error[] = [];
  const svc = service(yaml(), (e) => fatal.push(e));
  await svc.start();
  hostOf['e/2'].reportStatus({ status: 'fatal_error', error: new Error('disk on fire') });
  hostOf['e/2'].reportStatus({ status: 'fatal_error', error: new Error('again') });
  assert.equal(fatal.length, 1);
  assert.equal(fatal[0].message, 'disk on fire');
  assert.equal(svc.ready, false);
  assert.equal(svc.health().live, false);
  await svc.shutdown();
});

test('shutdown without start is safe, and refused data is counted at the receiver', async () => {
  reset();
  const svc = service(yaml());
  await svc.shutdown();
  const svc2 = service(yaml());
  await svc2.start();
  // A span whose attributes object is frozen makes the mutating processors throw: the refusal is counted.
  const bad = makeSpans(2);
  for (const sp of bad) Object.freeze((sp as SpanRecord).attributes);
  await assert.rejects(receiverNext.r.consumeTraces(bad));
  assert.equal(svc2.telemetry.counterValue('sonde_receiver_refused_spans_total', { receiver: 'r' }), 2);
  await svc2.shutdown();
});

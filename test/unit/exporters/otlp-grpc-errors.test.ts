// The otlp exporter's error paths against a small @grpc/grpc-js server built from the upstream
// opentelemetry-proto .proto files (as shipped in @elastic/mockotlpserver): UNAVAILABLE is retried,
// RESOURCE_EXHAUSTED only with RetryInfo (and after its delay), other codes are permanent, partial success
// is counted and logged; headers travel as metadata; gzip; mutual TLS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { createServer, connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Component } from '../../../src/component/component.js';
import type { TracesConsumer } from '../../../src/consumer/consumer.js';
import { otlpExporterFactory } from '../../../src/exporters/otlp/factory.js';
import type { Issue } from '../../../src/config/schema.js';
import { retryDelayFromStatusDetails } from '../../../src/internal/otlp/grpc-status.js';
import { ProtoWriter, WIRE_LEN } from '../../../src/internal/protobuf.js';
import { createLogger } from '../../../src/service/logger.js';
import { SelfTelemetry } from '../../../src/service/telemetry.js';
import { makeSpans } from '../../helpers/data.js';
import { testSettings, TestHost } from '../../helpers/settings.js';

const require = createRequire(import.meta.url);
const protoRoot = dirname(require.resolve('@elastic/mockotlpserver/package.json'));

type Behaviour = { code: number; retryDelayMs?: number } | { partial: { rejectedSpans: number; errorMessage: string } } | 'ok';

interface ExportCall { request: { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }> }; metadata: grpc.Metadata }

function statusDetails(code: number, message: string, delayMs: number): Buffer {
  const retry = new ProtoWriter();
  const d = retry.beginLen(1, 1);
  retry.tag(1, 0); retry.varint(Math.floor(delayMs / 1000));
  retry.tag(2, 0); retry.varint((delayMs % 1000) * 1e6);
  retry.endLen(d);
  const w = new ProtoWriter();
  w.tag(1, 0); w.varint(code);
  w.string(2, message);
  const any = w.beginLen(3);
  w.string(1, 'type.googleapis.com/google.rpc.RetryInfo');
  w.bytesField(2, retry.finish());
  w.endLen(any);
  return w.finish();
}

class ScriptedServer {
  readonly server = new grpc.Server();
  readonly calls: ExportCall[] = [];
  readonly at: number[] = [];
  script: Behaviour[] = [];
  port = 0;

  async start(creds = grpc.ServerCredentials.createInsecure()): Promise<void> {
    const def = protoLoader.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto', { includeDirs: [protoRoot], keepCase: false, longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { opentelemetry: { proto: { collector: { trace: { v1: { TraceService: { service: grpc.ServiceDefinition } } } } } } };
    this.server.addService(pkg.opentelemetry.proto.collector.trace.v1.TraceService.service, {
      Export: (call: grpc.ServerUnaryCall<ExportCall['request'], unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.calls.push({ request: call.request, metadata: call.metadata });
        this.at.push(Date.now());
        const b = this.script.shift() ?? 'ok';
        if (b === 'ok') return cb(null, {});
        if ('partial' in b) return cb(null, { partialSuccess: b.partial });
        const md = new grpc.Metadata();
        if (b.retryDelayMs !== undefined) md.set('grpc-status-details-bin', statusDetails(b.code, 'slow down', b.retryDelayMs));
        cb({ code: b.code, details: `scripted ${b.code}`, metadata: md });
      },
    });
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
  }

  spans(): string[] {
    return this.calls.flatMap((c) => c.request.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name))));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

function exporter(port: number, extra: Record<string, unknown> = {}, logLines?: string[]) {
  const telemetry = new SelfTelemetry();
  const set = { ...testSettings('otlp/err', 'exporter', telemetry), ...(logLines ? { logger: createLogger({ level: 'debug', write: (l) => logLines.push(l) }) } : {}) };
  const issues: Issue[] = [];
  const cfg = otlpExporterFactory.configSchema.parse({
    endpoint: `127.0.0.1:${port}`, tls: { insecure: true }, timeout: '2s',
    retry_on_failure: { initial_interval: '10ms', max_interval: '50ms', max_elapsed_time: '5s' },
    ...extra,
  }, ['otlp'], issues, otlpExporterFactory.createDefaultConfig());
  assert.deepEqual(issues, []);
  const e = otlpExporterFactory.createTraces!(set, cfg as never) as Component & TracesConsumer;
  return { e, c: (name: string, match: Record<string, string> = {}) => telemetry.counterValue(name, match) };
}

describe('otlp exporter error paths (scripted gRPC server over the upstream protos)', () => {
  const srv = new ScriptedServer();
  before(() => srv.start());
  after(() => srv.stop());

  test('UNAVAILABLE is retried until the server accepts', async () => {
    srv.calls.length = 0;
    srv.script = [{ code: grpc.status.UNAVAILABLE }, { code: grpc.status.UNAVAILABLE }, 'ok'];
    const { e, c } = exporter(srv.port);
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(3));
    await e.shutdown();
    assert.equal(srv.calls.length, 3);
    assert.equal(c('sonde_exporter_retries_total'), 2);
    assert.equal(c('sonde_exporter_sent_spans_total'), 3);
  });

  test('RESOURCE_EXHAUSTED with RetryInfo is retried after the server\'s delay', async () => {
    srv.calls.length = 0;
    srv.at.length = 0;
    srv.script = [{ code: grpc.status.RESOURCE_EXHAUSTED, retryDelayMs: 300 }, 'ok'];
    const { e, c } = exporter(srv.port);
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(2));
    await e.shutdown();
    assert.equal(srv.calls.length, 2);
    assert.ok(srv.at[1] - srv.at[0] >= 290, `retried after ${srv.at[1] - srv.at[0]}ms`);
    assert.equal(c('sonde_exporter_sent_spans_total'), 2);
  });

  test('RESOURCE_EXHAUSTED without RetryInfo, and INVALID_ARGUMENT, are permanent: dropped and counted', async () => {
    srv.calls.length = 0;
    srv.script = [{ code: grpc.status.RESOURCE_EXHAUSTED }, { code: grpc.status.INVALID_ARGUMENT }];
    const { e, c } = exporter(srv.port, { sending_queue: { num_consumers: 1 } });
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(4));
    await e.consumeTraces(makeSpans(5));
    await e.shutdown();
    assert.equal(srv.calls.length, 2);
    assert.equal(c('sonde_exporter_dropped_items_total', { reason: 'permanent_error' }), 9);
    assert.equal(c('sonde_exporter_send_failed_spans_total'), 9);
  });

  test('partial success: rejected spans are counted (reason rejected) and logged; the rest count as sent', async () => {
    srv.calls.length = 0;
    srv.script = [{ partial: { rejectedSpans: 2, errorMessage: '2 spans had invalid ids' } }];
    const lines: string[] = [];
    const { e, c } = exporter(srv.port, {}, lines);
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(5));
    await e.shutdown();
    assert.equal(c('sonde_exporter_sent_spans_total'), 3);
    assert.equal(c('sonde_exporter_dropped_items_total', { reason: 'rejected' }), 2);
    assert.ok(lines.some((l) => l.includes('partial success') && l.includes('2 spans had invalid ids')), lines.join('\n'));
  });

  test('headers travel as gRPC metadata; the request decodes with the upstream protos', async () => {
    srv.calls.length = 0;
    srv.script = ['ok'];
    const { e } = exporter(srv.port, { headers: { Authorization: 'Bearer s3cret', 'x-tenant': 'a' } });
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(2));
    await e.shutdown();
    const md = srv.calls[0].metadata;
    assert.deepEqual(md.get('authorization'), ['Bearer s3cret']);
    assert.deepEqual(md.get('x-tenant'), ['a']);
    assert.match(String(md.get('user-agent')[0]), /^sonde\//);
    assert.deepEqual(srv.spans(), ['GET /api/items', 'GET /api/items']);
  });

  test('compression: gzip puts several times fewer bytes on the wire than none (byte-counting relay)', async () => {
    // grpc-js servers strip grpc-encoding before handlers see it, so count the bytes between the two.
    const wireBytes = async (compression: string): Promise<number> => {
      let bytes = 0;
      const relay = createServer((inbound) => {
        const out = connect(srv.port, '127.0.0.1');
        inbound.on('data', (d: Buffer) => { bytes += d.length; });
        inbound.pipe(out).pipe(inbound);
        inbound.on('error', () => out.destroy());
        out.on('error', () => inbound.destroy());
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
      const { e, c } = exporter((relay.address() as AddressInfo).port, { compression });
      await e.start(new TestHost());
      await e.consumeTraces(makeSpans(500));
      await e.shutdown();
      assert.equal(c('sonde_exporter_sent_spans_total'), 500);
      await new Promise<void>((r) => relay.close(() => r()));
      return bytes;
    };
    const none = await wireBytes('none');
    const gz = await wireBytes('gzip');
    assert.ok(gz * 3 < none, `gzip ${gz} bytes vs none ${none} bytes`);
  });

  test('retryDelayFromStatusDetails reads google.rpc.RetryInfo and ignores other details', () => {
    assert.equal(retryDelayFromStatusDetails(statusDetails(8, 'x', 2500)), 2500);
    const other = new ProtoWriter();
    other.tag(1, 0); other.varint(8);
    const any = other.beginLen(3);
    other.string(1, 'type.googleapis.com/google.rpc.ErrorInfo');
    other.tag(2, WIRE_LEN); other.varint(0);
    other.endLen(any);
    assert.equal(retryDelayFromStatusDetails(other.finish()), undefined);
  });
});

describe('otlp exporter over mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sonde-otlp-tls-'));
  const srv = new ScriptedServer();
  const f = (n: string) => join(dir, n);
  before(async () => {
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=sonde-test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
    for (const [name, cn, ext] of [['server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], ['client', 'sonde-agent', 'extendedKeyUsage=clientAuth']]) {
      ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
      writeFileSync(f(`${name}.ext`), `${ext}\n`);
      ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-out', `${name}.crt`, '-extfile', `${name}.ext`);
    }
    await srv.start(grpc.ServerCredentials.createSsl(readFileSync(f('ca.crt')), [{ cert_chain: readFileSync(f('server.crt')), private_key: readFileSync(f('server.key')) }], true));
  });
  after(async () => {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('with the CA and a client certificate the export succeeds', async () => {
    srv.calls.length = 0;
    const { e, c } = exporter(srv.port, { endpoint: `localhost:${srv.port}`, tls: { ca_file: f('ca.crt'), cert_file: f('client.crt'), key_file: f('client.key') } });
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(2));
    await e.shutdown();
    assert.equal(c('sonde_exporter_sent_spans_total'), 2);
  });

  test('without the client certificate the server refuses: nothing is sent', async () => {
    srv.calls.length = 0;
    const { e, c } = exporter(srv.port, { endpoint: `localhost:${srv.port}`, tls: { ca_file: f('ca.crt') }, retry_on_failure: { enabled: false } });
    await e.start(new TestHost());
    await e.consumeTraces(makeSpans(2));
    await e.shutdown();
    assert.equal(srv.calls.length, 0);
    assert.equal(c('sonde_exporter_sent_spans_total'), 0);
    assert.equal(c('sonde_exporter_dropped_items_total'), 2);
  });

  test('a missing CA file fails start with the file named', async () => {
    const { e } = exporter(srv.port, { tls: { ca_file: f('nope.crt') } });
    await assert.rejects(e.start(new TestHost()), /tls\.ca_file .*nope\.crt: ENOENT/);
    await e.shutdown();
  });
});

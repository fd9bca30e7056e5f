// The L7 tracing path of the agent, in the bench process: tcp + l7 objects, the ring drained every
// 10 ms into the adapter and L7Pipeline, spans ticked every 100 ms and encoded as OTLP protobuf (what an
// exporter does with them), metrics encoded every 10 s. attach()/detach() switch the programs on and off
// without reloading, so variants can alternate. `mode: 'kernel'` drains and discards (kernel cost only).
const root = new URL('../..', import.meta.url).pathname;
const { loadNative } = await import(`${root}dist/src/native/load.js`);
const { BpfObject } = await import(`${root}dist/src/native/bpf-object.js`);
const { L7Pipeline } = await import(`${root}dist/src/receivers/ebpf/l7/pipeline.js`);
const { ParserRegistry } = await import(`${root}dist/src/receivers/ebpf/l7/registry.js`);
const { http1Parser } = await import(`${root}dist/src/receivers/ebpf/l7/protocols/http1/parser.js`);
const { L7Adapter } = await import(`${root}dist/src/receivers/ebpf/probes/l7/adapter.js`);
const cap = await import(`${root}dist/src/receivers/ebpf/probes/l7/capture.js`);
const { ProtobufMetricsSerializer } = await import('@opentelemetry/otlp-transformer');
// What the otlp exporter does with a batch of spans.
const { encodeTraces } = await import(`${root}dist/src/internal/otlp/proto.js`);

export class BenchL7Agent {
  /**
   * `port`: also count the spans of this server port apart (`portSpans`): the machine's other traffic is traced too.
   * `parsers`: the protocol parsers to register (default HTTP/1 only; bench/db-overhead.mjs passes the database ones).
   * `tickMs`: how often finished spans are taken and encoded (the probe's span_interval); `drainMs`: how
   * often the ring is drained (the receiver's ring_buffer.drain_interval).
   */
  constructor({ captureBytes = 1024, ringBytes = 32 << 20, mode = 'full', port = 0, parsers = [http1Parser], tickMs = 100, drainMs = 10 } = {}) {
    this.port = port;
    this.portSpans = 0;
    this.native = loadNative();
    this.tcp = BpfObject.open(this.native, `${root}build/bpf/tcp.bpf.o`);
    this.tcp.setRodata('targ_self_tgid', process.pid);
    this.tcp.load();
    this.l7 = BpfObject.open(this.native, `${root}build/bpf/l7.bpf.o`);
    this.registry = new ParserRegistry();
    for (const p of parsers) this.registry.register(p);
    const table = cap.configureL7Object(this.l7, this.tcp, {
      captureBytes, detectTries: 4, ringBytes, wakeupBytes: 256 << 10, selfPid: process.pid, protocols: this.registry.names(),
    }, { sendmsgTracepoint: cap.hasSendmsgTracepoint() });
    this.l7.load();
    this.mode = mode;
    this.pipeline = new L7Pipeline({ host: { hostname: 'bench', machineId: 'm', arch: 'x64' }, registry: this.registry, link: { windowNs: 200e6 } });
    this.adapter = new L7Adapter(this.pipeline, { protocols: table.names, registry: this.registry, selfPid: process.pid });
    this.records = 0;
    this.spans = 0;
    this.exportedBytes = 0;
    this.reader = this.l7.ringReader('events', { bufferBytes: 4 << 20 });
    // mode 'adapter': records decoded and dispatched by the adapter into a no-op pipeline input (which, like
    // L7Pipeline, takes the payload in place: chunkRange)
    this.nullAdapter = new L7Adapter({ open() {}, chunk() {}, chunkRange() {}, close() {} }, { protocols: table.names, selfPid: process.pid });
    this.reader.start((buf, n, bytes) => {
      this.records += n;
      if (this.mode === 'full') this.adapter.onBatch(buf, n, bytes);
      else if (this.mode === 'adapter') this.nullAdapter.onBatch(buf, n, bytes);
    }, { intervalMs: drainMs });
    this.tick = setInterval(() => this.#export(false), tickMs);
    this.metricsTimer = setInterval(() => this.#exportMetrics(), 10_000);
    this.links = [];
  }

  #export(force) {
    if (this.mode !== 'full') return;
    const spans = this.pipeline.tick(undefined, force);
    this.spans += spans.length;
    if (this.port) for (const s of spans) if (s.attributes['server.port'] === this.port) this.portSpans++;
    for (let i = 0; i < spans.length; i += 512) this.exportedBytes += encodeTraces(spans.slice(i, i + 512)).length;
  }

  #exportMetrics() {
    if (this.mode !== 'full') return;
    for (const rm of this.pipeline.collectMetrics()) this.exportedBytes += ProtobufMetricsSerializer.serializeRequest(rm).length;
  }

  attach() {
    this.links = [...this.tcp.attachAll(), ...cap.attachL7Object(this.l7, cap.cgroup2Root())];
  }

  detach() {
    for (const l of this.links) l.destroy();
    this.links = [];
  }

  /** Drains what is left, emits everything held, encodes metrics once. */
  flush() {
    while (this.reader.drain((buf, n, bytes) => { this.records += n; if (this.mode === 'full') this.adapter.onBatch(buf, n, bytes); }) > 0);
    this.adapter.flush();
    this.#export(true);
    this.#exportMetrics();
  }

  lost() {
    const l = this.l7.lostCounters().map(Number);
    return { ringbufFull: l[0], tableFull: l[1], kernel: cap.readL7KernelStats(this.l7), adapter: { ...this.adapter.stats }, tracker: this.pipeline.stats().tracker };
  }

  objects() {
    return [this.tcp, this.l7];
  }

  destroy() {
    clearInterval(this.tick);
    clearInterval(this.metricsTimer);
    this.reader.stop();
    this.detach();
    this.l7.destroy();
    this.tcp.destroy();
  }
}

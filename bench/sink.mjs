// A discard sink for bench/exporters.mjs, run as a child process: a gRPC server that accepts any OTLP
// Export call without decoding it, and an HTTP server that reads and drops any POST (remote-write,
// ClickHouse INSERTs answered like ClickHouse would). Prints "<grpcPort> <httpPort>" when ready.
import { createServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';

const passthrough = (b) => b;
const method = (path) => ({ path, requestStream: false, responseStream: false, requestSerialize: passthrough, requestDeserialize: passthrough, responseSerialize: passthrough, responseDeserialize: passthrough });
const server = new grpc.Server();
for (const s of ['trace', 'metrics', 'logs']) {
  const svc = s === 'trace' ? 'TraceService' : s === 'metrics' ? 'MetricsService' : 'LogsService';
  server.addService({ Export: method(`/opentelemetry.proto.collector.${s}.v1.${svc}/Export`) }, { Export: (_call, cb) => cb(null, Buffer.alloc(0)) });
}
const grpcPort = await new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
const http = createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(req.url?.includes('/api/v1/write') ? 204 : 200, { 'X-ClickHouse-Summary': '{}' }).end());
});
await new Promise((r) => http.listen(0, '127.0.0.1', r));
console.log(`${grpcPort} ${http.address().port}`);

/**
 * OTLP/protobuf export requests from the pipeline's SDK shapes: traces with Sonde's direct encoder
 * (traces-encoder.ts), metrics and logs with the official serializers of @opentelemetry/otlp-transformer. Metrics: the public serializer takes ONE ResourceMetrics per request; the
 * per-resource requests are concatenated, which protobuf defines as merging them, so a batch of many
 * resources still goes out as one ExportMetricsServiceRequest with many `resource_metrics`.
 */
import type { Signal } from '../../component/component.js';
import type { Logs, Metrics, Traces } from '../../consumer/consumer.js';
import { ProtobufLogsSerializer, ProtobufMetricsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { OtlpTraceEncoder } from './traces-encoder.js';

function toBuffer(b: Uint8Array | undefined, what: string): Buffer {
  if (!b) throw new Error(`${what} serialization failed`);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Traces use the direct encoder (same message as ProtobufTraceSerializer, checked by a test; several times cheaper). */
const traceEncoder = new OtlpTraceEncoder();

export function encodeTraces(td: Traces): Buffer {
  return traceEncoder.encode(td);
}

export function encodeMetrics(md: Metrics): Buffer {
  if (md.length === 1) return toBuffer(ProtobufMetricsSerializer.serializeRequest(md[0]), 'metrics');
  return Buffer.concat(md.map((rm) => toBuffer(ProtobufMetricsSerializer.serializeRequest(rm), 'metrics')));
}

export function encodeLogs(ld: Logs): Buffer {
  return toBuffer(ProtobufLogsSerializer.serializeRequest(ld), 'logs');
}

/** The partial_success of an Export*ServiceResponse: items rejected and the server's message. */
export function decodePartialSuccess(signal: Signal, data: Uint8Array | undefined): { rejected: number; message: string } {
  if (!data || data.length === 0) return { rejected: 0, message: '' };
  if (signal === 'traces') {
    const ps = ProtobufTraceSerializer.deserializeResponse(data).partialSuccess;
    return { rejected: Number(ps?.rejectedSpans ?? 0), message: ps?.errorMessage ?? '' };
  }
  if (signal === 'metrics') {
    const ps = ProtobufMetricsSerializer.deserializeResponse(data).partialSuccess;
    return { rejected: Number(ps?.rejectedDataPoints ?? 0), message: ps?.errorMessage ?? '' };
  }
  const ps = ProtobufLogsSerializer.deserializeResponse(data).partialSuccess;
  return { rejected: Number(ps?.rejectedLogRecords ?? 0), message: ps?.errorMessage ?? '' };
}

/** gRPC service paths of the OTLP collector services. */
export const GRPC_SERVICE: Record<Signal, { path: string; name: string }> = {
  traces: { path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export', name: 'TraceExportService' },
  metrics: { path: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export', name: 'MetricsExportService' },
  logs: { path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export', name: 'LogsExportService' },
};

/** OTLP/HTTP default paths. */
export const HTTP_PATH: Record<Signal, string> = { traces: '/v1/traces', metrics: '/v1/metrics', logs: '/v1/logs' };

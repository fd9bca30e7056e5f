import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { JsonLogsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
// The public JsonMetricsSerializer takes a single ResourceMetrics; the request builder below takes many.
import { createExportMetricsServiceRequest } from '@opentelemetry/otlp-transformer/build/src/metrics/internal.js';
import { JSON_ENCODER } from '@opentelemetry/otlp-transformer/build/src/common/utils.js';

/** OTLP/JSON encodings of export requests (the protobuf JSON mapping: hex ids, string int64 times). */
export function tracesToOtlpJson(td: ReadableSpan[]): Buffer {
  const bytes = JsonTraceSerializer.serializeRequest(td);
  if (!bytes) throw new Error('trace serialization failed');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function metricsToOtlpJson(md: ResourceMetrics[]): Buffer {
  return Buffer.from(JSON.stringify(createExportMetricsServiceRequest(md, JSON_ENCODER)));
}

export function logsToOtlpJson(ld: ReadableLogRecord[]): Buffer {
  const bytes = JsonLogsSerializer.serializeRequest(ld);
  if (!bytes) throw new Error('log serialization failed');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

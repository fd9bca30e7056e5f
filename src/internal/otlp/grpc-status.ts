/**
 * Classifies a failed gRPC export the way the Collector's otlp exporter does (exporter/otlpexporter
 * `shouldRetry` / `getThrottleDuration`): CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
 * UNAVAILABLE and DATA_LOSS are retried; RESOURCE_EXHAUSTED only when the server sent RetryInfo (it can
 * recover); everything else is permanent. A google.rpc.RetryInfo in `grpc-status-details-bin` becomes a
 * ThrottleError with its delay.
 */
import { PermanentError, RetryableError, ThrottleError } from '../../consumer/errors.js';
import { ProtoReader, WIRE_LEN, WIRE_VARINT } from '../protobuf.js';

export const GRPC_CODE_NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL',
  'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'] as const;

const RETRYABLE = new Set([1, 4, 10, 11, 14, 15]);
const RESOURCE_EXHAUSTED = 8;
const RETRY_INFO_TYPE = 'type.googleapis.com/google.rpc.RetryInfo';

/** The retry delay (ms) from a serialized google.rpc.Status, if it carries a RetryInfo detail. */
export function retryDelayFromStatusDetails(bin: Uint8Array): number | undefined {
  const status = new ProtoReader(bin);
  while (!status.done) {
    const { field, wire } = status.tag();
    if (field !== 3 || wire !== WIRE_LEN) {
      status.skip(wire);
      continue;
    }
    // google.protobuf.Any { string type_url = 1; bytes value = 2; }
    const [s, e] = status.lenRange();
    const any = new ProtoReader(bin, s, e);
    let type = '';
    let value: Uint8Array | undefined;
    while (!any.done) {
      const t = any.tag();
      if (t.field === 1 && t.wire === WIRE_LEN) type = any.string();
      else if (t.field === 2 && t.wire === WIRE_LEN) value = any.bytes();
      else any.skip(t.wire);
    }
    if (type !== RETRY_INFO_TYPE || !value) continue;
    // RetryInfo { google.protobuf.Duration retry_delay = 1; } Duration { int64 seconds = 1; int32 nanos = 2; }
    const ri = new ProtoReader(value);
    let ms = 0;
    while (!ri.done) {
      const t = ri.tag();
      if (t.field === 1 && t.wire === WIRE_LEN) {
        const [ds, de] = ri.lenRange();
        const d = new ProtoReader(value, ds, de);
        while (!d.done) {
          const dt = d.tag();
          if (dt.field === 1 && dt.wire === WIRE_VARINT) ms += d.int64() * 1000;
          else if (dt.field === 2 && dt.wire === WIRE_VARINT) ms += d.int64() / 1e6;
          else d.skip(dt.wire);
        }
      } else ri.skip(t.wire);
    }
    return Math.max(0, Math.round(ms));
  }
  return undefined;
}

interface GrpcLikeError extends Error {
  code?: number;
  details?: string;
  metadata?: { get(key: string): Array<string | Buffer> };
}

export function classifyGrpcError(err: unknown): Error {
  const e = err as GrpcLikeError;
  if (typeof e?.code !== 'number') {
    return new PermanentError(`gRPC export failed: ${e?.message ?? String(err)}`, { cause: err });
  }
  const name = GRPC_CODE_NAMES[e.code] ?? `code ${e.code}`;
  const msg = `gRPC export failed: ${name}: ${e.details ?? e.message}`;
  let delay: number | undefined;
  try {
    const bin = e.metadata?.get('grpc-status-details-bin')?.[0];
    if (bin && typeof bin !== 'string') delay = retryDelayFromStatusDetails(bin);
  } catch {
    delay = undefined; // a malformed detail is not a reason to change the classification
  }
  const retryable = RETRYABLE.has(e.code) || (e.code === RESOURCE_EXHAUSTED && delay !== undefined);
  if (!retryable) return new PermanentError(msg, { cause: err });
  return delay !== undefined ? new ThrottleError(msg, delay, { cause: err }) : new RetryableError(msg, { cause: err });
}

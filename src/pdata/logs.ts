import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Logs } from '../consumer/consumer.js';

export function countLogs(ld: Logs): number {
  return ld.length;
}

/** Shallow copies with copied attribute maps: enough for processors that replace resources or attributes. */
export function cloneLogs(ld: Logs): Logs {
  return ld.map((r): ReadableLogRecord => ({
    hrTime: r.hrTime,
    hrTimeObserved: r.hrTimeObserved,
    spanContext: r.spanContext,
    severityText: r.severityText,
    severityNumber: r.severityNumber,
    body: r.body,
    eventName: r.eventName,
    resource: r.resource,
    instrumentationScope: r.instrumentationScope,
    attributes: { ...r.attributes },
    droppedAttributesCount: r.droppedAttributesCount,
  }));
}

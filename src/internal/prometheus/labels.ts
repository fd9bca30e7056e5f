import type { Attributes, AttributeValue } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { HostInfo } from '../host-info.js';
import { corootContainerLabels } from '../coroot.js';
import { sanitizeLabelName } from './naming.js';

/** Label name → value. Insertion order is irrelevant: `labelKey` sorts. */
export type LabelSet = Map<string, string>;

export function attrValueString(v: AttributeValue | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return JSON.stringify(v);
  return String(v);
}

/** Adds attributes as labels (sanitized names); later keys with the same sanitized name join with ';' like the Collector. */
export function addAttributes(out: LabelSet, attrs: Attributes): void {
  for (const k of Object.keys(attrs)) {
    const v = attrValueString(attrs[k]);
    if (v === '') continue;
    const name = sanitizeLabelName(k);
    const prev = out.get(name);
    out.set(name, prev !== undefined && prev !== v ? `${prev};${v}` : v);
  }
}

export interface ResourceLabelOptions {
  /** Copy every resource attribute onto each series (`resource_to_telemetry_conversion`). */
  readonly resourceToTelemetry: boolean;
  /** Add coroot-node-agent's container_id/app_id/machine_id/system_uuid labels. */
  readonly coroot: boolean;
  readonly host: HostInfo;
}

/** `job` and `instance` from a resource, by the Collector's rules (service.namespace/service.name, service.instance.id). */
export function jobInstance(resource: Resource): { job?: string; instance?: string } {
  const a = resource.attributes;
  const name = attrValueString(a['service.name']);
  const ns = attrValueString(a['service.namespace']);
  const inst = attrValueString(a['service.instance.id']);
  return { ...(name ? { job: ns ? `${ns}/${name}` : name } : {}), ...(inst ? { instance: inst } : {}) };
}

/**
 * Labels every series of a resource gets. Cached per Resource object by the caller (resources are
 * immutable and shared by all points of one container).
 */
export function resourceLabels(resource: Resource, opts: ResourceLabelOptions): LabelSet {
  const out: LabelSet = new Map();
  if (opts.resourceToTelemetry) addAttributes(out, resource.attributes);
  if (opts.coroot) {
    for (const [k, v] of Object.entries(corootContainerLabels(resource.attributes))) if (v) out.set(k, v);
    if (opts.host.machineId) out.set('machine_id', opts.host.machineId);
    if (opts.host.systemUuid) out.set('system_uuid', opts.host.systemUuid);
  }
  return out;
}

/** A stable key for a label set (sorted by name). */
export function labelKey(labels: LabelSet): string {
  return [...labels.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, v]) => `${k}\u0001${v}`).join('\u0002');
}

/** Resource attributes that identify a target (become job/instance) and are not repeated on target_info. */
const IDENTIFYING = new Set(['service.name', 'service.namespace', 'service.instance.id']);

/**
 * The labels of a resource's `target_info` series (the Collector's translator): every resource attribute
 * except the identifying ones, plus job/instance. Undefined when there is nothing beyond job/instance.
 */
export function targetInfoLabels(resource: Resource): LabelSet | undefined {
  const attrs = resource.attributes;
  const rest: Attributes = {};
  let any = false;
  for (const k of Object.keys(attrs)) {
    if (IDENTIFYING.has(k)) continue;
    rest[k] = attrs[k];
    any = true;
  }
  if (!any) return undefined;
  const out: LabelSet = new Map();
  addAttributes(out, rest);
  const { job, instance } = jobInstance(resource);
  if (job) out.set('job', job);
  if (instance) out.set('instance', instance);
  return out.size > 0 ? out : undefined;
}

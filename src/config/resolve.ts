import type { Signal } from '../component/component.js';
import { SIGNALS } from '../component/component.js';
import type { Factory } from '../component/factory.js';
import { supportedSignals } from '../component/factory.js';
import { ComponentId } from '../component/id.js';
import type { Components } from '../service/registry.js';
import type { LocatedIssue } from './errors.js';
import type { LoadedYaml } from './load.js';
import type { Infer, Issue } from './schema.js';
import { INVALID, s } from './schema.js';

export type Section = 'receivers' | 'processors' | 'exporters' | 'extensions';
const SECTIONS: readonly Section[] = ['receivers', 'processors', 'exporters', 'extensions'];
const KIND_OF: Record<Section, string> = { receivers: 'receiver', processors: 'processor', exporters: 'exporter', extensions: 'extension' };

export interface ResolvedComponent {
  readonly id: ComponentId;
  readonly factory: Factory;
  /** The validated config: factory default with the user's YAML laid over it. */
  readonly config: unknown;
}

export interface PipelineConfig {
  /** `traces`, `metrics/fast`, … */
  readonly id: string;
  readonly signal: Signal;
  readonly receivers: readonly string[];
  readonly processors: readonly string[];
  readonly exporters: readonly string[];
}

export const telemetrySchema = s.object({
  logs: s.object({
    level: s.enum(['debug', 'info', 'warn', 'error']).describe('Minimum level of the agent\'s own log lines (stderr).'),
    encoding: s.enum(['console', 'json']).describe('Log line format.'),
  }),
  metrics: s.object({
    level: s.enum(['none', 'basic', 'normal', 'detailed']).describe('`none` turns the self-telemetry endpoint off.'),
    address: s.endpoint().describe('Where `/metrics` (Prometheus text), `/healthz` and `/readyz` are served.'),
  }),
  resource: s.map(s.string()).describe('Extra attributes for the agent\'s own resource.'),
});
export type TelemetryConfig = Infer<typeof telemetrySchema>;

export function defaultTelemetryConfig(): TelemetryConfig {
  return { logs: { level: 'info', encoding: 'console' }, metrics: { level: 'basic', address: '127.0.0.1:8888' }, resource: {} };
}

/** The agent's threads' CPU scheduling (applied by src/service/scheduling.ts). */
export const schedulingSchema = s.refine(s.object({
  policy: s.enum(['normal', 'batch', 'idle']).describe(
    'Every thread of the agent: `normal` (SCHED_OTHER: a fair share of the CPU; nothing is dropped for lack of it), '
    + '`batch` (SCHED_BATCH: the same share, without preempting others on wakeup) or `idle` (SCHED_IDLE: runs only '
    + 'when no other thread wants the CPU; on saturated CPUs the kernel then drops what the agent cannot read, counted).'),
  nice: s.int({ min: -20, max: 19 }).describe('Nice value of every thread with `normal` or `batch` (10: a tenth of a normal thread\'s share under contention). Negative values need CAP_SYS_NICE.'),
}), (v) => v.policy === 'idle' && v.nice !== 0
  ? [{ path: ['nice'], message: 'has no effect with policy idle (SCHED_IDLE has no nice levels): leave it 0' }]
  : []);
export type SchedulingConfig = Infer<typeof schedulingSchema>;

export function defaultSchedulingConfig(): SchedulingConfig {
  return { policy: 'normal', nice: 0 };
}

const serviceSchema = s.object({
  extensions: s.array(s.string()).describe('Extensions to start, by id.'),
  telemetry: telemetrySchema,
  scheduling: schedulingSchema,
  shutdown_timeout: s.duration(1).describe('How long shutdown may take to drain buffered data before dropping it (counted).'),
  pipelines: s.map(s.any()).describe('`traces|metrics|logs[/name]` → receivers, processors, exporters.'),
});

const pipelineSchema = s.object({
  receivers: s.array(s.string(), { minItems: 1 }).describe('Receiver ids feeding the pipeline.'),
  processors: s.array(s.string()).describe('Processor ids, applied in order.'),
  exporters: s.array(s.string(), { minItems: 1 }).describe('Exporter ids receiving the pipeline\'s output.'),
});

export interface ServiceConfig {
  readonly components: Record<Section, ReadonlyMap<string, ResolvedComponent>>;
  readonly extensions: readonly string[];
  readonly pipelines: readonly PipelineConfig[];
  readonly telemetry: TelemetryConfig;
  readonly scheduling: SchedulingConfig;
  readonly shutdownTimeoutMs: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function lookupFactory(components: Components, section: Section, type: string): Factory | undefined {
  return components[section].get(type);
}

function validTypes(components: Components, section: Section): string {
  const names = [...components[section].keys()].sort();
  return names.length ? names.join(', ') : 'none are registered';
}

/**
 * Validates a loaded config against the registered factories. Returns every issue (with its YAML line);
 * `config` is set only when there are none.
 */
export function resolveConfig(loaded: LoadedYaml, components: Components): { config?: ServiceConfig; issues: LocatedIssue[] } {
  const issues: Issue[] = [];
  const root = loaded.value ?? {};
  const resolved = {
    receivers: new Map<string, ResolvedComponent>(),
    processors: new Map<string, ResolvedComponent>(),
    exporters: new Map<string, ResolvedComponent>(),
    extensions: new Map<string, ResolvedComponent>(),
  };
  let service: Infer<typeof serviceSchema> | undefined;
  const pipelines: PipelineConfig[] = [];

  if (!isPlainObject(root)) {
    issues.push({ path: [], message: 'the config file must be a YAML map with receivers, processors, exporters and service' });
  } else {
    for (const k of Object.keys(root)) {
      if (k === 'connectors') issues.push({ path: [k], message: 'connectors are not supported by Sonde' });
      else if (!(SECTIONS as readonly string[]).includes(k) && k !== 'service') {
        issues.push({ path: [k], message: `unknown top-level key "${k}" (valid keys: receivers, processors, exporters, extensions, service)` });
      }
    }

    // 1. components: id, factory, default ⊕ user, strict schema.
    for (const section of SECTIONS) {
      const sec = root[section];
      if (sec === undefined || sec === null) continue;
      if (!isPlainObject(sec)) {
        issues.push({ path: [section], message: `must be a map of ${KIND_OF[section]} ids to their configs` });
        continue;
      }
      for (const [idText, userCfg] of Object.entries(sec)) {
        const path = [section, idText];
        const id = ComponentId.parse(idText);
        if (typeof id === 'string') {
          issues.push({ path, message: id });
          continue;
        }
        const factory = lookupFactory(components, section, id.type);
        if (!factory) {
          issues.push({ path, message: `unknown type "${id.type}" for id "${idText}" (valid values: ${validTypes(components, section)})` });
          continue;
        }
        const parsed = factory.configSchema.parse(userCfg, path, issues, factory.createDefaultConfig());
        if (parsed !== INVALID) resolved[section].set(idText, { id, factory, config: parsed });
      }
    }

    // 2. service.
    const svcDefault = { extensions: [], telemetry: defaultTelemetryConfig(), scheduling: defaultSchedulingConfig(), shutdown_timeout: 10_000, pipelines: {} };
    if (root.service === undefined || root.service === null) {
      issues.push({ path: ['service'], message: 'is required: declare service.pipelines' });
    } else {
      const svc = serviceSchema.parse(root.service, ['service'], issues, svcDefault);
      if (svc !== INVALID) service = svc;
    }

    // 3. pipelines: signal names, references, signal support.
    const rawPipes = isPlainObject(root.service) ? root.service.pipelines : undefined;
    if (isPlainObject(root.service) && (rawPipes === undefined || rawPipes === null || (isPlainObject(rawPipes) && Object.keys(rawPipes).length === 0))) {
      issues.push({ path: ['service', 'pipelines'], message: 'at least one pipeline is required' });
    }
    if (isPlainObject(rawPipes)) {
      for (const [pid, praw] of Object.entries(rawPipes)) {
        const path = ['service', 'pipelines', pid];
        const slash = pid.indexOf('/');
        const signal = (slash < 0 ? pid : pid.slice(0, slash)) as Signal;
        if (!SIGNALS.includes(signal) || (slash >= 0 && slash === pid.length - 1)) {
          issues.push({ path, message: `invalid pipeline id "${pid}": must be traces, metrics or logs, optionally followed by /name` });
          continue;
        }
        const p = pipelineSchema.parse(praw, path, issues, { processors: [] } as never);
        if (p === INVALID) continue;
        const check = (section: 'receivers' | 'processors' | 'exporters') => {
          const seen = new Set<string>();
          p[section].forEach((ref, i) => {
            const rpath = [...path, section, String(i)];
            if (seen.has(ref)) {
              issues.push({ path: rpath, message: `references ${KIND_OF[section]} "${ref}" more than once` });
              return;
            }
            seen.add(ref);
            const declared = isPlainObject(root[section]) && Object.prototype.hasOwnProperty.call(root[section], ref);
            if (!declared) {
              issues.push({ path: rpath, message: `references ${KIND_OF[section]} "${ref}" which is not configured` });
              return;
            }
            const rc = resolved[section].get(ref);
            if (!rc) return; // its own config errors were reported above
            const f = rc.factory;
            if (f.kind !== 'extension' && !supportedSignals(f).includes(signal)) {
              issues.push({ path: rpath, message: `${KIND_OF[section]} "${ref}" does not support ${signal} (it supports: ${supportedSignals(f).join(', ')})` });
            }
          });
        };
        check('receivers');
        check('processors');
        check('exporters');
        pipelines.push({ id: pid, signal, receivers: p.receivers, processors: p.processors, exporters: p.exporters });
      }
    }

    if (service) {
      service.extensions.forEach((ref, i) => {
        if (!resolved.extensions.has(ref) && !(isPlainObject(root.extensions) && ref in root.extensions)) {
          issues.push({ path: ['service', 'extensions', String(i)], message: `references extension "${ref}" which is not configured` });
        }
      });
    }
  }

  const located: LocatedIssue[] = issues.map((i) => ({ ...i, line: loaded.lineOf(i.path) }));
  located.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  if (located.length > 0 || !service) return { issues: located };
  return {
    issues: [],
    config: {
      components: resolved,
      extensions: service.extensions,
      pipelines,
      telemetry: service.telemetry,
      scheduling: service.scheduling,
      shutdownTimeoutMs: service.shutdown_timeout,
    },
  };
}

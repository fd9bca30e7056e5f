import type { Resource } from '@opentelemetry/resources';
import type { Schema } from '../config/schema.js';
import type { LogsConsumer, MetricsConsumer, TracesConsumer } from '../consumer/consumer.js';
import type { Logger } from '../service/logger.js';
import type { SelfTelemetry } from '../service/telemetry.js';
import type { HostInfo } from '../internal/host-info.js';
import type { Component, Kind, Signal, Stability } from './component.js';
import type { ComponentId } from './id.js';

/** What the service gives every component it creates. Config never travels through globals. */
export interface Settings {
  readonly id: ComponentId;
  readonly kind: Kind;
  readonly logger: Logger;
  /** Sonde's own metrics registry; components register families here (labelled with their id). */
  readonly telemetry: SelfTelemetry;
  /** Facts about the node the agent runs on (hostname, machine id, kernel). */
  readonly host: HostInfo;
  /** The agent's own resource (service.name=sonde, host.*), for components that emit their own data. */
  readonly resource: Resource;
}

interface FactoryBase<C> {
  /** The YAML type name and registry key. */
  readonly type: string;
  readonly description: string;
  /** Stability per supported signal; must list exactly the signals the factory can create. */
  readonly stability: Partial<Record<Signal, Stability>>;
  /** Strict schema: unknown keys are errors. */
  readonly configSchema: Schema<C>;
  /** No side effects; callable many times. The user's YAML is laid over it before validation. */
  createDefaultConfig(): C;
}

/** A missing create* method means "signal not supported": a config-time error naming the pipeline. */
export interface ReceiverFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'receiver';
  createTraces?(set: Settings, cfg: C, next: TracesConsumer): Component;
  createMetrics?(set: Settings, cfg: C, next: MetricsConsumer): Component;
  createLogs?(set: Settings, cfg: C, next: LogsConsumer): Component;
}

export interface ProcessorFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'processor';
  createTraces?(set: Settings, cfg: C, next: TracesConsumer): Component & TracesConsumer;
  createMetrics?(set: Settings, cfg: C, next: MetricsConsumer): Component & MetricsConsumer;
  createLogs?(set: Settings, cfg: C, next: LogsConsumer): Component & LogsConsumer;
}

export interface ExporterFactory<C = unknown> extends FactoryBase<C> {
  readonly kind: 'exporter';
  createTraces?(set: Settings, cfg: C): Component & TracesConsumer;
  createMetrics?(set: Settings, cfg: C): Component & MetricsConsumer;
  createLogs?(set: Settings, cfg: C): Component & LogsConsumer;
}

export interface ExtensionFactory<C = unknown> extends Omit<FactoryBase<C>, 'stability'> {
  readonly kind: 'extension';
  readonly stability: Stability;
  create(set: Settings, cfg: C): Component;
}

export type Factory = ReceiverFactory | ProcessorFactory | ExporterFactory | ExtensionFactory;

const CREATE: Record<Signal, 'createTraces' | 'createMetrics' | 'createLogs'> = {
  traces: 'createTraces',
  metrics: 'createMetrics',
  logs: 'createLogs',
};

/** Signals a receiver/processor/exporter factory can create. */
export function supportedSignals(f: ReceiverFactory | ProcessorFactory | ExporterFactory): Signal[] {
  return (Object.keys(CREATE) as Signal[]).filter((s) => typeof f[CREATE[s]] === 'function');
}

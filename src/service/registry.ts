import { TYPE_RE } from '../component/id.js';
import type { ExporterFactory, ExtensionFactory, Factory, ProcessorFactory, ReceiverFactory } from '../component/factory.js';

/** Factory maps keyed by YAML type: the only place component types are looked up (no switch on names). */
export interface Components {
  readonly receivers: ReadonlyMap<string, ReceiverFactory>;
  readonly processors: ReadonlyMap<string, ProcessorFactory>;
  readonly exporters: ReadonlyMap<string, ExporterFactory>;
  readonly extensions: ReadonlyMap<string, ExtensionFactory>;
}

export interface ComponentList {
  receivers?: readonly ReceiverFactory[];
  processors?: readonly ProcessorFactory[];
  exporters?: readonly ExporterFactory[];
  extensions?: readonly ExtensionFactory[];
}

function makeMap<F extends Factory>(kind: F['kind'], list: readonly F[] = []): Map<string, F> {
  const m = new Map<string, F>();
  for (const f of list) {
    if (f.kind !== kind) throw new TypeError(`factory "${f.type}" is a ${f.kind}, listed among ${kind}s`);
    if (!TYPE_RE.test(f.type)) throw new TypeError(`invalid ${kind} type name "${f.type}"`);
    if (m.has(f.type)) throw new TypeError(`duplicate ${kind} factory "${f.type}"`);
    m.set(f.type, f);
  }
  return m;
}

/** Builds the factory maps (the Collector's MakeFactoryMap): duplicates and bad names throw. */
export function defineComponents(list: ComponentList): Components {
  return {
    receivers: makeMap('receiver', list.receivers),
    processors: makeMap('processor', list.processors),
    exporters: makeMap('exporter', list.exporters),
    extensions: makeMap('extension', list.extensions),
  };
}

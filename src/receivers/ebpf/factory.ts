import type { ReceiverFactory, Settings } from '../../component/factory.js';
import { SharedComponents } from '../../component/shared.js';
import type { NativeBinding } from '../../native/binding.js';
import type { EbpfConfig } from './config.js';
import { createDefaultEbpfConfig, ebpfConfigSchema } from './config.js';
import type { ProbeRegistry } from './probe.js';
import { defaultProbeRegistry } from './probes/index.js';
import { EbpfReceiver } from './receiver.js';

export interface EbpfReceiverFactoryOptions {
  /** Probes available under `probes:`; default: process, tcp. */
  readonly registry?: ProbeRegistry;
  /** Test seam: a binding object (FakeNative) used instead of `native_binding`. */
  readonly native?: NativeBinding;
  /** Where `<object>.bpf.o` files are; default: build/bpf of this package. */
  readonly objectDir?: string;
}

/**
 * The `ebpf` receiver factory. One EbpfReceiver per component id (keyed by its parsed config, which the
 * service passes unchanged to every create* call), shared by its metrics and logs pipelines: the BPF
 * programs are loaded and attached once.
 */
export function createEbpfReceiverFactory(opts: EbpfReceiverFactoryOptions = {}): ReceiverFactory<EbpfConfig> {
  const registry = opts.registry ?? defaultProbeRegistry();
  const shared = new SharedComponents<EbpfConfig, EbpfReceiver>();
  const instance = (set: Settings, cfg: EbpfConfig) =>
    shared.getOrCreate(cfg, () => new EbpfReceiver(set, cfg, { registry, native: opts.native, objectDir: opts.objectDir }));
  return {
    kind: 'receiver',
    type: 'ebpf',
    description: 'Kernel events through eBPF (CO-RE, libbpf): coroot container_net_tcp_* and container_oom_kills_total metrics per cgroup; process exec/exit/OOM logs; L7 request spans and metrics (probe l7).',
    stability: { traces: 'alpha', metrics: 'alpha', logs: 'alpha' },
    configSchema: ebpfConfigSchema(registry),
    createDefaultConfig: () => createDefaultEbpfConfig(registry),
    createMetrics(set, cfg, next) {
      const s = instance(set, cfg);
      s.instance.setMetricsConsumer(next);
      return s.handle();
    },
    createLogs(set, cfg, next) {
      const s = instance(set, cfg);
      s.instance.setLogsConsumer(next);
      return s.handle();
    },
    createTraces(set, cfg, next) {
      const s = instance(set, cfg);
      s.instance.setTracesConsumer(next);
      return s.handle();
    },
  };
}

export const ebpfReceiverFactory: ReceiverFactory<EbpfConfig> = createEbpfReceiverFactory();

// The probes Sonde ships, by name. A new probe (e.g. l7) is one more register() call.
import { ProbeRegistry } from '../probe.js';
import { processProbeFactory } from './process/probe.js';
import { tcpProbeFactory } from './tcp/probe.js';

export function defaultProbeRegistry(): ProbeRegistry {
  return new ProbeRegistry().register(processProbeFactory).register(tcpProbeFactory);
}

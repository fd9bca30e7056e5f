// The probes Sonde ships, by name. A new probe is one more register() call.
import { ProbeRegistry } from '../probe.js';
import { l7ProbeFactory } from './l7/probe.js';
import { processProbeFactory } from './process/probe.js';
import { tcpProbeFactory } from './tcp/probe.js';

export function defaultProbeRegistry(): ProbeRegistry {
  return new ProbeRegistry().register(processProbeFactory).register(tcpProbeFactory).register(l7ProbeFactory);
}

import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Host, StatusEvent } from '../../src/component/component.js';
import type { Settings } from '../../src/component/factory.js';
import { ComponentId } from '../../src/component/id.js';
import type { Kind } from '../../src/component/component.js';
import type { HostInfo } from '../../src/internal/host-info.js';
import { nopLogger } from '../../src/service/logger.js';
import { SelfTelemetry } from '../../src/service/telemetry.js';

export const TEST_HOST: HostInfo = {
  hostname: 'test-node',
  machineId: '0123456789abcdef0123456789abcdef',
  systemUuid: '4c4c4544-0000-1111-2222-333344445555',
  kernelRelease: '6.18.0-test',
  arch: 'x64',
};

/** Settings for creating a component outside a service (the Collector's componenttest.NewNopSettings). */
export function testSettings(id: string, kind: Kind, telemetry = new SelfTelemetry()): Settings {
  const parsed = ComponentId.parse(id);
  if (typeof parsed === 'string') throw new Error(parsed);
  return {
    id: parsed,
    kind,
    logger: nopLogger(),
    telemetry,
    host: TEST_HOST,
    resource: resourceFromAttributes({ 'service.name': 'sonde', 'host.name': TEST_HOST.hostname }),
  };
}

/** A Host that records reported statuses. */
export class TestHost implements Host {
  readonly logger = nopLogger();
  readonly events: StatusEvent[] = [];
  reportStatus(e: StatusEvent): void {
    this.events.push(e);
  }
}

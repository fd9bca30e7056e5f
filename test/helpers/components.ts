import { builtinComponents } from '../../src/components.js';
import type { Components } from '../../src/service/registry.js';
import { defineComponents } from '../../src/service/registry.js';
import { testReceiverFactory } from './test-receiver.js';

/** The built-in components plus the test receiver `testgen`. */
export function componentsWithTestReceiver(): Components {
  const b = builtinComponents();
  return defineComponents({
    receivers: [...b.receivers.values(), testReceiverFactory],
    processors: [...b.processors.values()],
    exporters: [...b.exporters.values()],
    extensions: [...b.extensions.values()],
  });
}

import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { SelfTelemetry } from '../../../src/service/telemetry.js';

test('gaugeFn: one collector per key (two receivers of one type keep their own rows), the same key replaces', () => {
  const t = new SelfTelemetry();
  t.gaugeFn('sonde_x', 'x', ['receiver'], () => [[['ebpf'], 1]], 'ebpf');
  t.gaugeFn('sonde_x', 'x', ['receiver'], () => [[['ebpf/otel'], 2]], 'ebpf/otel');
  let text = t.render();
  assert.match(text, /sonde_x\{receiver="ebpf"\} 1/);
  assert.match(text, /sonde_x\{receiver="ebpf\/otel"\} 2/);
  t.gaugeFn('sonde_x', 'x', ['receiver'], () => [[['ebpf'], 3]], 'ebpf'); // a restarted receiver
  text = t.render();
  assert.match(text, /sonde_x\{receiver="ebpf"\} 3/);
  assert.doesNotMatch(text, /sonde_x\{receiver="ebpf"\} 1/);
  assert.equal(text.match(/^sonde_x\{/gm)?.length, 2);
});

test('gaugeFn without a key: a later registration replaces the earlier one', () => {
  const t = new SelfTelemetry();
  t.gaugeFn('sonde_y', 'y', [], () => [[[], 1]]);
  t.gaugeFn('sonde_y', 'y', [], () => [[[], 2]]);
  assert.match(t.render(), /^sonde_y 2$/m);
  assert.doesNotMatch(t.render(), /^sonde_y 1$/m);
});

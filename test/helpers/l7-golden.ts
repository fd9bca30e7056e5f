// Golden records for the L7 fixtures: test/fixtures/l7/<protocol>/<scenario>.records.json holds, per
// connection, what the parser emits for the recorded conversation (everything but timestamps).
// SONDE_UPDATE_GOLDEN=1 rewrites them; review the diff like code.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { L7Record, ParserOptions, ProtocolParser } from '../../src/receivers/ebpf/l7/types.js';
import { FIXTURE_DIR, loadFixture, replay } from './l7-fixtures.js';
import type { Conversation } from './l7-fixtures.js';

export type Shape = Record<string, unknown>;

/** A record without its timestamps (durations depend on the recording machine). */
export function shape(r: L7Record): Shape {
  const s: Shape = { name: r.name, status: r.status, statusLabel: r.statusLabel, requestSize: r.requestSize, responseSize: r.responseSize, attributes: r.attributes };
  if (r.errorType !== undefined) s.errorType = r.errorType;
  if (r.traceparent !== undefined) s.traceparent = r.traceparent;
  if (r.tracestate !== undefined) s.tracestate = r.tracestate;
  if (r.incomplete === true) s.incomplete = true;
  return s;
}

export function replayShapes(parser: ProtocolParser, conv: Conversation, opts: Partial<ParserOptions> = {}): Shape[] {
  return replay(parser, conv, opts).map(shape);
}

export function goldenPath(protocol: string, scenario: string): string {
  return join(FIXTURE_DIR, protocol, `${scenario}.records.json`);
}

/** Per connection, the shapes the parser emits; written when SONDE_UPDATE_GOLDEN=1 or missing. */
export function golden(parser: ProtocolParser, protocol: string, scenario: string): { expected: Shape[][]; actual: Shape[][] } {
  const f = loadFixture(protocol, scenario);
  const actual = f.connections.map((c) => replayShapes(parser, c));
  const p = goldenPath(protocol, scenario);
  if (process.env.SONDE_UPDATE_GOLDEN === '1' || !existsSync(p)) {
    writeFileSync(p, `${JSON.stringify(actual, null, 1)}\n`);
  }
  return { expected: JSON.parse(readFileSync(p, 'utf8')) as Shape[][], actual: JSON.parse(JSON.stringify(actual)) as Shape[][] };
}

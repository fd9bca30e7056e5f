// Recorded L7 conversations: a loopback recording proxy (client ↔ proxy ↔ real server) and the
// fixture file format under test/fixtures/l7/<protocol>/<scenario>.json.
//
// Each 'data' event the proxy gets is one chunk: one read() of the stream, which is what the kernel
// side sees too (a read/write or a segment). A fixture may be recorded with a capture limit: chunks then
// keep only their first `capture` bytes plus their real length, exactly like the BPF capture does.
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { L7Record, ParserOptions, ProtocolParser } from '../../src/receivers/ebpf/l7/types.js';
import { DEFAULT_PARSER_OPTIONS, Direction } from '../../src/receivers/ebpf/l7/types.js';
import type { Chunk } from './fuzz.js';

export interface RecordedChunk {
  readonly dir: Direction;
  /** ns since the first chunk of the fixture. */
  readonly tsNs: number;
  readonly bytes: Uint8Array;
  /** Real length (> bytes.length when the capture limit cut it). */
  readonly length: number;
}

export interface Conversation { readonly chunks: RecordedChunk[] }

export interface Fixture {
  readonly protocol: string;
  readonly scenario: string;
  /** How it was made (client, commands, server version). */
  readonly description: string;
  /** Capture limit the chunks were cut to, or null for full bytes. */
  readonly capture: number | null;
  readonly connections: Conversation[];
}

/** On-disk shape: chunks as [dir, tsNs, base64, length] to keep files small and diffable. */
interface FixtureFile {
  protocol: string;
  scenario: string;
  description: string;
  capture: number | null;
  connections: { chunks: [number, number, string, number][] }[];
}

export function encodeFixture(f: Fixture): string {
  const file: FixtureFile = {
    protocol: f.protocol, scenario: f.scenario, description: f.description, capture: f.capture,
    connections: f.connections.map((c) => ({ chunks: c.chunks.map((k) => [k.dir, k.tsNs, Buffer.from(k.bytes).toString('base64'), k.length]) })),
  };
  // one chunk per line
  const conns = file.connections.map((c) => `{"chunks":[\n${c.chunks.map((k) => JSON.stringify(k)).join(',\n')}\n]}`).join(',\n');
  return `{"protocol":${JSON.stringify(file.protocol)},"scenario":${JSON.stringify(file.scenario)},\n"description":${JSON.stringify(file.description)},\n"capture":${JSON.stringify(file.capture)},\n"connections":[\n${conns}\n]}\n`;
}

export function decodeFixture(text: string): Fixture {
  const file = JSON.parse(text) as FixtureFile;
  return {
    protocol: file.protocol, scenario: file.scenario, description: file.description, capture: file.capture,
    connections: file.connections.map((c) => ({
      chunks: c.chunks.map(([dir, tsNs, b64, length]) => ({ dir: dir as Direction, tsNs, bytes: new Uint8Array(Buffer.from(b64, 'base64')), length })),
    })),
  };
}

export const FIXTURE_DIR = new URL('../../../test/fixtures/l7/', import.meta.url).pathname;

export function loadFixture(protocol: string, scenario: string): Fixture {
  return decodeFixture(readFileSync(join(FIXTURE_DIR, protocol, `${scenario}.json`), 'utf8'));
}

export function listFixtures(protocol: string): string[] {
  return readdirSync(join(FIXTURE_DIR, protocol)).filter((f) => f.endsWith('.json') && !f.endsWith('.records.json')).map((f) => f.slice(0, -5)).sort();
}

/** Fuzzer seeds: every connection of every fixture of a protocol. */
export function fuzzSeeds(protocol: string): Chunk[][] {
  const seeds: Chunk[][] = [];
  for (const s of listFixtures(protocol)) {
    for (const c of loadFixture(protocol, s).connections) seeds.push(c.chunks.map((k) => ({ dir: k.dir, bytes: k.bytes, length: k.length })));
  }
  return seeds;
}

const BASE_TS = 1_000_000_000;

/** Replays one conversation through a fresh session; returns every record (close() included). */
export function replay(parser: ProtocolParser, conv: Conversation, opts: Partial<ParserOptions> = {}, split?: (c: RecordedChunk) => RecordedChunk[]): L7Record[] {
  const s = parser.newSession({ ...DEFAULT_PARSER_OPTIONS, ...opts });
  const out: L7Record[] = [];
  let last = BASE_TS;
  for (const c of conv.chunks) {
    for (const part of split ? split(c) : [c]) {
      last = BASE_TS + part.tsNs;
      s.feed(part.dir, part.bytes, part.length, last, out);
    }
  }
  s.close(last + 1, out);
  return out;
}

export function replayFixture(parser: ProtocolParser, f: Fixture, opts: Partial<ParserOptions> = {}): L7Record[] {
  return f.connections.flatMap((c) => replay(parser, c, opts));
}

/** The parts of a record that must not change between two recordings of the same scenario. */
export function recordShape(r: L7Record): Record<string, unknown> {
  const a = { ...r.attributes };
  return { name: r.name, status: r.status, statusLabel: r.statusLabel, errorType: r.errorType, incomplete: r.incomplete ?? false, attributes: a };
}

// ---------------------------------------------------------------------------------------------
// Recording proxy

export class RecordingProxy {
  readonly #server: Server;
  readonly #target: number;
  readonly #convs: { chunks: { dir: Direction; t: bigint; bytes: Buffer }[] }[] = [];
  readonly #sockets = new Set<Socket>();
  #open = 0;
  #idle: (() => void)[] = [];
  port = 0;

  private constructor(targetPort: number) {
    this.#target = targetPort;
    this.#server = createServer((client) => this.#onClient(client));
  }

  static async start(targetPort: number): Promise<RecordingProxy> {
    const p = new RecordingProxy(targetPort);
    await new Promise<void>((resolve, reject) => {
      p.#server.once('error', reject);
      p.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = p.#server.address();
    p.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    return p;
  }

  #onClient(client: Socket): void {
    const conv = { chunks: [] as { dir: Direction; t: bigint; bytes: Buffer }[] };
    this.#convs.push(conv);
    this.#open++;
    client.pause();
    const server = connect(this.#target, '127.0.0.1');
    this.#sockets.add(client);
    this.#sockets.add(server);
    server.setNoDelay(true);
    client.setNoDelay(true);
    server.once('connect', () => client.resume());
    client.on('data', (b: Buffer) => { conv.chunks.push({ dir: Direction.Request, t: process.hrtime.bigint(), bytes: Buffer.from(b) }); server.write(b); });
    server.on('data', (b: Buffer) => { conv.chunks.push({ dir: Direction.Response, t: process.hrtime.bigint(), bytes: Buffer.from(b) }); client.write(b); });
    let closed = 0;
    const done = (): void => {
      if (++closed !== 2) return;
      this.#open--;
      if (this.#open === 0) for (const f of this.#idle.splice(0)) f();
    };
    client.on('close', () => { server.end(); done(); });
    server.on('close', () => { client.end(); done(); });
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  }

  /** Resolves when every proxied connection has closed on both sides. */
  async idle(timeoutMs = 10_000): Promise<void> {
    if (this.#open === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { for (const s of this.#sockets) s.destroy(); resolve(); }, timeoutMs);
      this.#idle.push(() => { clearTimeout(t); resolve(); });
    });
  }

  /** Every connection so far, timestamps relative to the first chunk; chunks cut to `capture` bytes. */
  conversations(capture: number | null = null): Conversation[] {
    let t0: bigint | undefined;
    for (const c of this.#convs) for (const k of c.chunks) if (t0 === undefined || k.t < t0) t0 = k.t;
    return this.#convs.filter((c) => c.chunks.length > 0).map((c) => ({
      chunks: c.chunks.map((k) => ({
        dir: k.dir, tsNs: Number(k.t - (t0 ?? 0n)), length: k.bytes.length,
        bytes: new Uint8Array(capture === null ? k.bytes : k.bytes.subarray(0, capture)),
      })),
    }));
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

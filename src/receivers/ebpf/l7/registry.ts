import type { Direction, ProtocolParser } from './types.js';

/**
 * Protocol parsers keyed by name (no central switch). The order of registration is the order `detect`
 * tries them when the kernel could not name the protocol.
 */
export class ParserRegistry {
  readonly #byName = new Map<string, ProtocolParser>();

  register(p: ProtocolParser): this {
    if (this.#byName.has(p.name)) throw new TypeError(`duplicate protocol parser "${p.name}"`);
    this.#byName.set(p.name, p);
    return this;
  }

  get(name: string): ProtocolParser | undefined {
    return this.#byName.get(name);
  }

  names(): string[] {
    return [...this.#byName.keys()];
  }

  /** The first parser that recognises these bytes, if any. Never throws. */
  detect(first: Uint8Array, dir: Direction): ProtocolParser | undefined {
    for (const p of this.#byName.values()) {
      try {
        if (p.detect(first, dir)) return p;
      } catch {
        // a detector that throws is treated as "not this protocol"
      }
    }
    return undefined;
  }
}

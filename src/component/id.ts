/** Component type names: the Collector's rule (a letter, then letters, digits or underscores; ≤ 63 chars). */
export const TYPE_RE = /^[a-zA-Z][0-9a-zA-Z_]{0,62}$/;
/** Instance names after the slash: no whitespace, no control characters, no further slash. */
const NAME_RE = /^[^\s/\p{C}]{1,1024}$/u;

/** `type[/name]`, e.g. `otlp/primary`. */
export class ComponentId {
  readonly type: string;
  readonly name: string;
  constructor(type: string, name = '') {
    this.type = type;
    this.name = name;
  }
  toString(): string {
    return this.name ? `${this.type}/${this.name}` : this.type;
  }
  /** Parses `type[/name]`; returns an error message instead of throwing. */
  static parse(text: string): ComponentId | string {
    const idx = text.indexOf('/');
    const type = idx < 0 ? text : text.slice(0, idx);
    const name = idx < 0 ? '' : text.slice(idx + 1);
    if (!TYPE_RE.test(type)) {
      return `invalid component id "${text}": the type must start with a letter and contain only letters, digits and underscores`;
    }
    if (idx >= 0 && !NAME_RE.test(name)) {
      return `invalid component id "${text}": the name after "/" must be non-empty, without spaces or "/"`;
    }
    return new ComponentId(type, name);
  }
}

import type { Issue } from './schema.js';

/** A config problem with its location: `exporters::otlp/primary::endpoint (line 14): must be host:port`. */
export interface LocatedIssue extends Issue {
  readonly line?: number;
}

export function formatIssue(i: LocatedIssue): string {
  const path = i.path.join('::');
  const where = i.line !== undefined ? ` (line ${i.line})` : '';
  return path ? `${path}${where}: ${i.message}` : `${i.message}${where}`;
}

/** Every problem found in a config file, reported together. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: readonly LocatedIssue[];
  readonly file: string;
  constructor(file: string, issues: readonly LocatedIssue[]) {
    super(`invalid configuration ${file}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`);
    this.file = file;
    this.issues = issues;
  }
}

/** The config file could not be read or is not YAML. */
export class ConfigFileError extends Error {
  override readonly name = 'ConfigFileError';
  readonly file: string;
  constructor(file: string, message: string) {
    super(message);
    this.file = file;
  }
}

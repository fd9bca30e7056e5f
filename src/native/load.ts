// Loads and initialises the native addon. Injectable, like better-sqlite3's `nativeBinding`:
//   loadNative()                 -> native/build/Release/sonde_native.node
//   loadNative('/path/x.node')   -> that file
//   loadNative(fakeBinding)      -> used as is (tests: FakeNative)
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { LibbpfLogLevel, NativeBinding } from './binding.js';
import { NativeError } from './errors.js';

export interface NativeLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

export interface LoadNativeOptions {
  logger?: NativeLogger;
  /** forward libbpf's debug output (very chatty); default false */
  verbose?: boolean;
}

const require = createRequire(import.meta.url);

/** Where the addon is looked for, relative to this file (src/ or dist/src/). */
export function defaultBindingPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'sonde_native.node');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'Release', 'sonde_native.node');
}

/** Where the built BPF objects are (`build/bpf/<name>.bpf.o`), found upwards from this file. */
export function defaultObjectDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'build', 'bpf');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'bpf');
}

export function loadNative(binding?: string | NativeBinding, opts: LoadNativeOptions = {}): NativeBinding {
  let native: NativeBinding;
  if (binding === undefined || typeof binding === 'string') {
    const path = binding ?? defaultBindingPath();
    try {
      native = require(path) as NativeBinding;
    } catch (e) {
      throw new Error(`cannot load the Sonde native addon from ${path}: run \`npm run build:native\``, { cause: e });
    }
  } else if (typeof binding === 'object' && binding !== null && typeof binding.objectOpen === 'function') {
    native = binding;
  } else {
    throw new TypeError('binding must be a path string or a NativeBinding object');
  }
  const logger = opts.logger;
  const log = (level: LibbpfLogLevel, message: string): void => {
    if (!logger) return;
    if (level === 0) logger.warn(message);
    else if (level === 1) logger.info(message);
    else logger.debug(message);
  };
  // init is cheap and idempotent; re-run to swap the logger
  native.init(NativeError, log);
  native.setLogLevel(opts.verbose ? 2 : 0);
  return native;
}

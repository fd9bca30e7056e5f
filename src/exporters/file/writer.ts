import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';

export interface RotationOptions {
  readonly maxBytes: number; // 0 = never rotate
  readonly maxBackups: number; // 0 = keep all
  readonly maxAgeDays: number; // 0 = no age limit
}

/** lumberjack's backup name: `name-2006-01-02T15-04-05.000.ext` (UTC). */
export function backupName(path: string, at: Date): string {
  const ext = extname(path);
  const base = basename(path, ext);
  const stamp = at.toISOString().replace(/:/g, '-').replace('Z', '');
  return join(dirname(path), `${base}-${stamp}${ext}`);
}

/**
 * Appends whole lines to a file, one write per call, in call order; rotates by size before a write that
 * would pass `maxBytes` and prunes old backups by count and age.
 */
export class RotatingWriter {
  readonly path: string;
  readonly #opts: RotationOptions;
  #fh?: FileHandle;
  #size = 0;
  #chain: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(path: string, opts: RotationOptions) {
    this.path = path;
    this.#opts = opts;
  }

  /** Bytes accepted by write() but not yet on disk. */
  get pendingBytes(): number {
    return this.#pending;
  }

  async open(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    this.#fh = await open(this.path, 'a');
    this.#size = (await this.#fh.stat()).size;
  }

  write(data: Buffer): Promise<void> {
    this.#pending += data.length;
    const p = this.#chain.then(async () => {
      try {
        if (!this.#fh) throw new Error(`file ${this.path} is not open`);
        if (this.#opts.maxBytes > 0 && this.#size > 0 && this.#size + data.length > this.#opts.maxBytes) await this.#rotate();
        await this.#fh.write(data);
        this.#size += data.length;
      } finally {
        this.#pending -= data.length;
      }
    });
    this.#chain = p.catch(() => undefined);
    return p;
  }

  async #rotate(): Promise<void> {
    await this.#fh?.close();
    this.#fh = undefined;
    await rename(this.path, backupName(this.path, new Date()));
    this.#fh = await open(this.path, 'a');
    this.#size = 0;
    await this.#prune();
  }

  /** Rotated files of this path, newest first. */
  async backups(): Promise<string[]> {
    const dir = dirname(this.path);
    const ext = extname(this.path);
    const base = basename(this.path, ext);
    const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}\\.\\d{3}${ext.replace('.', '\\.')}$`);
    const names = (await readdir(dir)).filter((n) => re.test(n)).sort().reverse();
    return names.map((n) => join(dir, n));
  }

  async #prune(): Promise<void> {
    const files = await this.backups();
    const now = Date.now();
    for (const [i, f] of files.entries()) {
      let remove = this.#opts.maxBackups > 0 && i >= this.#opts.maxBackups;
      if (!remove && this.#opts.maxAgeDays > 0) {
        const st = await stat(f).catch(() => undefined);
        remove = st !== undefined && now - st.mtimeMs > this.#opts.maxAgeDays * 86_400_000;
      }
      if (remove) await unlink(f).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#fh?.close();
    this.#fh = undefined;
  }
}

import { existsSync } from 'node:fs';
import type { ContainerRuntime } from '../cgroup/recognize.js';
import type { Logger } from '../../service/logger.js';
import type { RuntimesConfig } from './config.js';
import { ContainerdClient } from './containerd.js';
import { CrioClient } from './crio.js';
import { DockerClient } from './docker.js';
import type { ContainerMetadata, InspectHint, RuntimeClient } from './metadata.js';

interface Slot {
  readonly runtime: ContainerRuntime;
  readonly endpoints: readonly string[];
  readonly make: (endpoint: string) => RuntimeClient;
  client?: RuntimeClient;
  /** When the socket was last looked for / last failed. */
  checkedAt: number;
  available: boolean;
  loggedMissing: boolean;
}

interface CacheEntry {
  value: ContainerMetadata | null;
  expires: number;
}

export interface MetadataStats {
  requests: number;
  hits: number;
  notFound: number;
  errors: number;
}

/**
 * Container id → metadata from whichever runtime knows it, cached. The runtimes named by the cgroup path
 * are asked first (a bare 64-hex id under kubepods could be containerd, docker or CRI-O: all are asked in
 * turn). Concurrent lookups of one id share one request. A runtime whose socket is missing or failing is
 * skipped and re-checked every `recheck_interval`: that is logged once per runtime, never per lookup.
 */
export class ContainerMetadataService {
  readonly #cfg: RuntimesConfig;
  readonly #logger: Logger;
  readonly #slots: Slot[] = [];
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<ContainerMetadata | null>>();
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly stats: MetadataStats = { requests: 0, hits: 0, notFound: 0, errors: 0 };
  #closed = false;

  constructor(cfg: RuntimesConfig, logger: Logger, opts: { now?: () => number; maxEntries?: number } = {}) {
    this.#cfg = cfg;
    this.#logger = logger;
    this.#now = opts.now ?? Date.now;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    if (cfg.containerd.enabled) {
      this.#slots.push(this.#slot('containerd', cfg.containerd.endpoints, (e) => new ContainerdClient(e, cfg.containerd.namespaces)));
    }
    if (cfg.crio.enabled) this.#slots.push(this.#slot('cri-o', cfg.crio.endpoints, (e) => new CrioClient(e)));
    if (cfg.docker.enabled) this.#slots.push(this.#slot('docker', cfg.docker.endpoints, (e) => new DockerClient(e)));
  }

  #slot(runtime: ContainerRuntime, endpoints: readonly string[], make: (e: string) => RuntimeClient): Slot {
    return { runtime, endpoints, make, checkedAt: -Infinity, available: false, loggedMissing: false };
  }

  /** Cached metadata without asking anyone (undefined: not cached; null: known unknown). */
  peek(id: string): ContainerMetadata | null | undefined {
    const e = this.#cache.get(id);
    if (!e || e.expires < this.#now()) return undefined;
    return e.value;
  }

  /** Which runtimes are reachable now (for logs and tests). */
  availableRuntimes(): ContainerRuntime[] {
    return this.#slots.filter((s) => this.#ensure(s)).map((s) => s.runtime);
  }

  async get(id: string, hint: InspectHint & { runtime?: ContainerRuntime } = {}): Promise<ContainerMetadata | null> {
    const cached = this.#cache.get(id);
    const now = this.#now();
    if (cached && cached.expires >= now) {
      this.stats.hits++;
      if (cached.value) cached.expires = now + this.#cfg.cache_ttl;
      return cached.value;
    }
    let p = this.#inflight.get(id);
    if (!p) {
      p = this.#fetch(id, hint).finally(() => this.#inflight.delete(id));
      this.#inflight.set(id, p);
    }
    return p;
  }

  async #fetch(id: string, hint: InspectHint & { runtime?: ContainerRuntime }): Promise<ContainerMetadata | null> {
    this.stats.requests++;
    const slots = hint.runtime
      ? [...this.#slots.filter((s) => s.runtime === hint.runtime), ...this.#slots.filter((s) => s.runtime !== hint.runtime)]
      : this.#slots;
    let failed = false;
    for (const slot of slots) {
      if (this.#closed) return null;
      if (!this.#ensure(slot)) continue;
      const ac = new AbortController();
      const t = setTimeout(() => ac.abort(), this.#cfg.timeout);
      try {
        const md = await slot.client!.inspect(id, hint, ac.signal);
        if (md) {
          this.#store(id, md, this.#cfg.cache_ttl);
          return md;
        }
      } catch (e) {
        failed = true;
        this.stats.errors++;
        slot.available = false;
        slot.checkedAt = this.#now();
        this.#logger.warnOnce(`runtime-error-${slot.runtime}`, `${slot.runtime} did not answer a metadata request; retrying every ${this.#cfg.recheck_interval}ms (logged once)`, { endpoint: slot.client?.endpoint, error: (e as Error).message });
      } finally {
        clearTimeout(t);
      }
    }
    this.stats.notFound++;
    // A failure is not an answer: remember "unknown" only briefly so the next batch asks again.
    this.#store(id, null, failed ? Math.min(this.#cfg.negative_cache_ttl, this.#cfg.recheck_interval) : this.#cfg.negative_cache_ttl);
    return null;
  }

  #store(id: string, value: ContainerMetadata | null, ttl: number): void {
    this.#cache.delete(id);
    this.#cache.set(id, { value, expires: this.#now() + ttl });
    if (this.#cache.size > this.#maxEntries) {
      const now = this.#now();
      for (const [k, e] of this.#cache) if (e.expires < now) this.#cache.delete(k);
      while (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value as string);
    }
  }

  /** Finds the socket (first existing endpoint), creating the client; rate-limited by recheck_interval. */
  #ensure(slot: Slot): boolean {
    if (slot.available) return true;
    const now = this.#now();
    if (now - slot.checkedAt < this.#cfg.recheck_interval) return false;
    slot.checkedAt = now;
    const endpoint = slot.endpoints.find((e) => existsSync(e));
    if (!endpoint) {
      if (!slot.loggedMissing) {
        slot.loggedMissing = true;
        this.#logger.info(`${slot.runtime} socket not found; its containers get no runtime metadata (checked again every ${this.#cfg.recheck_interval}ms, logged once)`, { endpoints: slot.endpoints.join(',') });
      }
      return false;
    }
    if (!slot.client || slot.client.endpoint !== endpoint) {
      slot.client?.close();
      slot.client = slot.make(endpoint);
      if (slot.loggedMissing) this.#logger.info(`${slot.runtime} socket appeared`, { endpoint });
    }
    slot.available = true;
    return true;
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#slots) s.client?.close();
    this.#cache.clear();
  }
}

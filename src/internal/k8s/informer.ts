import type { Logger } from '../../service/logger.js';
import type { KubeClient, WatchEvent } from './client.js';
import { KubeApiError } from './client.js';
import type { PodInfo } from './pods.js';
import { podInfo } from './pods.js';

export interface PodInformerOptions {
  /** Only pods scheduled on this node (fieldSelector spec.nodeName=…); '' for every pod. */
  readonly nodeName: string;
  /** Full relist this often, even when the watch is healthy. */
  readonly resyncMs: number;
  /** Server-side watch timeout (the API server ends the stream; the informer watches again). */
  readonly watchTimeoutSeconds: number;
  /** Deleted pods keep answering this long (their data may still be in the pipeline). */
  readonly deleteGraceMs: number;
  readonly pageSize?: number;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Backoff after a failed list/watch: min and max. */
  readonly backoffMs?: readonly [number, number];
}

export interface InformerStats {
  lists: number;
  watches: number;
  events: number;
  /** Relists caused by "410 Gone" (expired resourceVersion). */
  gone: number;
  errors: number;
}

interface PodList { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] }
interface Status { kind?: string; code?: number; reason?: string; message?: string }

/**
 * A client-go-style informer for this node's pods: LIST (paginated) then WATCH from the list's
 * resourceVersion with bookmarks; a watch that ends is resumed from the last resourceVersion seen; "410
 * Gone" (an ERROR event with code 410, or HTTP 410 on the watch request) means the resourceVersion expired
 * and triggers a fresh LIST; failures back off exponentially; a full relist happens every `resyncMs`.
 * The store is indexed by pod UID, by container id and by namespace/name.
 */
export class PodInformer {
  readonly #client: KubeClient;
  readonly #opts: PodInformerOptions;
  readonly #now: () => number;
  readonly #byUid = new Map<string, PodInfo>();
  readonly #byContainer = new Map<string, PodInfo>();
  readonly #byName = new Map<string, PodInfo>();
  readonly #deleted = new Map<string, { pod: PodInfo; at: number }>();
  readonly stats: InformerStats = { lists: 0, watches: 0, events: 0, gone: 0, errors: 0 };
  #ac?: AbortController;
  #loop?: Promise<void>;
  #rv = '';
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  #lastList = 0;
  #version = 0;

  constructor(client: KubeClient, opts: PodInformerOptions) {
    this.#client = client;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /** Bumped on every change to the store (enrichment caches compare it). */
  get version(): number {
    return this.#version;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first LIST completed, or after `timeoutMs` (false). */
  waitForSync(timeoutMs: number): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      t.unref();
      this.#syncWaiters.push(() => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  byUid(uid: string): PodInfo | undefined {
    return this.#byUid.get(uid) ?? this.#deleted.get(uid)?.pod;
  }
  byContainerId(id: string): PodInfo | undefined {
    const p = this.#byContainer.get(id);
    if (p) return p;
    for (const d of this.#deleted.values()) if (d.pod.containers.has(id)) return d.pod;
    return undefined;
  }
  byName(namespace: string, name: string): PodInfo | undefined {
    return this.#byName.get(`${namespace}/${name}`);
  }
  get size(): number {
    return this.#byUid.size;
  }

  start(): void {
    if (this.#loop) return;
    this.#ac = new AbortController();
    this.#loop = this.#run(this.#ac.signal);
  }

  async stop(): Promise<void> {
    this.#ac?.abort();
    await this.#loop;
    this.#loop = undefined;
  }

  #path(extra: Record<string, string>): string {
    const q = new URLSearchParams();
    if (this.#opts.nodeName) q.set('fieldSelector', `spec.nodeName=${this.#opts.nodeName}`);
    for (const [k, v] of Object.entries(extra)) q.set(k, v);
    return `/api/v1/pods?${q.toString()}`;
  }

  async #run(signal: AbortSignal): Promise<void> {
    const [minB, maxB] = this.#opts.backoffMs ?? [500, 30_000];
    let backoff = minB;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList || this.#now() - this.#lastList >= this.#opts.resyncMs) {
          await this.#list(signal);
          needList = false;
        }
        const gone = await this.#watch(signal);
        if (gone) {
          this.stats.gone++;
          this.#opts.logger.debug('pod watch: resourceVersion expired (410 Gone); relisting');
          needList = true;
        }
        backoff = minB;
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof KubeApiError && e.status === 410) {
          this.stats.gone++;
          needList = true;
          continue;
        }
        this.stats.errors++;
        this.#opts.logger.warnOnce('k8s-informer', 'Kubernetes pod list/watch failed; retrying with backoff (logged once)', { error: (e as Error).message });
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, maxB);
        needList = needList || !(e instanceof WatchBroken);
      }
      this.#expireDeleted();
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    this.stats.lists++;
    const items: PodInfo[] = [];
    let cont = '';
    let rv = '';
    do {
      const page = await this.#client.get<PodList>(this.#path({ limit: String(this.#opts.pageSize ?? 500), ...(cont ? { continue: cont } : {}) }), signal);
      for (const raw of page.items ?? []) {
        const p = podInfo(raw);
        if (p) items.push(p);
      }
      cont = page.metadata?.continue ?? '';
      rv = page.metadata?.resourceVersion ?? rv;
    } while (cont);
    // Replace the store: pods missing from the list were deleted while we were not watching.
    const now = this.#now();
    const fresh = new Set(items.map((p) => p.uid));
    for (const [uid, p] of this.#byUid) if (!fresh.has(uid)) this.#deleted.set(uid, { pod: p, at: now });
    this.#byUid.clear();
    this.#byContainer.clear();
    this.#byName.clear();
    for (const p of items) this.#put(p);
    this.#rv = rv;
    this.#lastList = now;
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  /** One watch stream. Resolves true on "410 Gone", false when the server ended it normally. */
  async #watch(signal: AbortSignal): Promise<boolean> {
    this.stats.watches++;
    const remaining = Math.max(1, Math.floor((this.#opts.resyncMs - (this.#now() - this.#lastList)) / 1000));
    const timeout = Math.min(this.#opts.watchTimeoutSeconds, remaining);
    let gone = false;
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#client.watch<unknown>(this.#path({ watch: '1', resourceVersion: this.#rv, allowWatchBookmarks: 'true', timeoutSeconds: String(timeout) }), ac.signal, (e: WatchEvent<unknown>) => {
        this.stats.events++;
        if (e.type === 'ERROR') {
          const st = e.object as Status;
          if (st.code === 410) gone = true;
          else this.#opts.logger.warnOnce('k8s-watch-error', 'pod watch returned an error event (logged once)', { code: st.code, reason: st.reason, message: st.message });
          ac.abort();
          return;
        }
        const rv = (e.object as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
        if (rv) this.#rv = rv;
        if (e.type === 'BOOKMARK') return;
        const p = podInfo(e.object);
        if (!p) return;
        if (e.type === 'DELETED') this.#delete(p);
        else this.#put(p);
      });
    } catch (e) {
      if (gone) return true;
      if (signal.aborted) return false;
      if (ac.signal.aborted) return false; // ended by an ERROR event other than 410: watch again
      throw e instanceof KubeApiError ? e : new WatchBroken((e as Error).message);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    return gone;
  }

  #put(p: PodInfo): void {
    this.#version++;
    const old = this.#byUid.get(p.uid);
    if (old) for (const id of old.containers.keys()) if (this.#byContainer.get(id) === old) this.#byContainer.delete(id);
    this.#byUid.set(p.uid, p);
    this.#byName.set(`${p.namespace}/${p.name}`, p);
    for (const id of p.containers.keys()) this.#byContainer.set(id, p);
    this.#deleted.delete(p.uid);
  }

  #delete(p: PodInfo): void {
    this.#version++;
    const old = this.#byUid.get(p.uid) ?? p;
    this.#byUid.delete(p.uid);
    if (this.#byName.get(`${old.namespace}/${old.name}`)?.uid === p.uid) this.#byName.delete(`${old.namespace}/${old.name}`);
    for (const id of old.containers.keys()) if (this.#byContainer.get(id)?.uid === p.uid) this.#byContainer.delete(id);
    this.#deleted.set(p.uid, { pod: p.containers.size >= old.containers.size ? p : old, at: this.#now() });
  }

  #expireDeleted(): void {
    const now = this.#now();
    for (const [uid, d] of this.#deleted) if (now - d.at > this.#opts.deleteGraceMs) this.#deleted.delete(uid);
  }
}

/** A watch stream that broke mid-way (network): resume from the last resourceVersion, no relist needed. */
class WatchBroken extends Error {}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

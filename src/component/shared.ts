import type { Component, Host } from './component.js';

/**
 * One underlying instance per component id shared by the wrappers created for each signal (the
 * Collector's sharedcomponent): the ebpf receiver attaches its programs once even when it feeds a traces
 * and a metrics pipeline. The instance is started by the first wrapper's start() and shut down when the
 * last started wrapper shuts down. Keyed by the parsed config object, which the service passes unchanged
 * to every create* call for the same id.
 */
export class SharedComponents<K extends object, T extends Component> {
  readonly #map = new WeakMap<K, Shared<T>>();

  getOrCreate(key: K, create: () => T): Shared<T> {
    let s = this.#map.get(key);
    if (!s) {
      s = new Shared(create(), () => this.#map.delete(key));
      this.#map.set(key, s);
    }
    return s;
  }
}

export class Shared<T extends Component> {
  readonly instance: T;
  #refs = 0;
  #starting?: Promise<void>;
  #stopping?: Promise<void>;
  readonly #onGone: () => void;

  constructor(instance: T, onGone: () => void) {
    this.instance = instance;
    this.#onGone = onGone;
  }

  /** A per-signal wrapper whose lifecycle is reference-counted onto the shared instance. */
  handle(): Component {
    let started = false;
    let stopped = false;
    return {
      start: async (host: Host) => {
        if (started) return;
        started = true;
        this.#refs++;
        this.#starting ??= this.instance.start(host);
        await this.#starting;
      },
      shutdown: async (signal?: AbortSignal) => {
        if (stopped) return;
        stopped = true;
        if (started) this.#refs--;
        if (this.#refs > 0) return;
        this.#onGone();
        this.#stopping ??= this.instance.shutdown(signal);
        await this.#stopping;
      },
    };
  }
}

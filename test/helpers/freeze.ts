/**
 * Freezes an object graph (own enumerable properties), so any write throws in strict mode. Resources are
 * left alone: they are immutable by contract but memoize their attributes lazily.
 */
export function deepFreeze<T>(v: T, seen = new WeakSet<object>()): T {
  if (v === null || typeof v !== 'object' || seen.has(v as object)) return v;
  seen.add(v as object);
  if (typeof (v as { getRawAttributes?: unknown }).getRawAttributes === 'function') return v;
  for (const k of Object.keys(v as object)) deepFreeze((v as Record<string, unknown>)[k], seen);
  return Object.freeze(v);
}

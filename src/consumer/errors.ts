/**
 * Error classes for refused data, the Collector's consumererror in TypeScript. Exporters classify every
 * failure into one of these; the exporter helper decides from the class alone (never from message text).
 */

/** Do not retry: the data can never be accepted (4xx other than 429, schema errors). Dropped and counted. */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Retry later: a transient failure (connection refused, 5xx, timeouts). */
export class RetryableError extends Error {
  override readonly name: string = 'RetryableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The server asked to slow down (429, RESOURCE_EXHAUSTED, UNAVAILABLE with retry info). */
export class ThrottleError extends RetryableError {
  override readonly name: string = 'ThrottleError';
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Data refused because a bounded queue or buffer is full; it has been counted as dropped. */
export class QueueFullError extends Error {
  override readonly name: string = 'QueueFullError';
}

export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentError;
}

import { UpstreamHttpError, UpstreamNetworkError } from './upstream.types';
import { backoffDelay } from '../../shared/backoff';

export interface RetryPolicy {
  /** Total attempts on retryable failures, the first one included. */
  attempts: number;
  /** Backoff ceiling of the first retry; doubles each retry... */
  baseDelayMs: number;
  /** ...up to this. The delay is drawn uniformly below the ceiling (full jitter). */
  maxDelayMs: number;
  /** The longest `Retry-After` honoured; a longer one ends the retries (the caller falls back). */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
};

// HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and asctime forms.
const HTTP_DATE = [
  /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Za-z]{6,9}, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/,
  /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/,
];

/**
 * How long an upstream asks to wait: `retry-after-ms` (milliseconds, OpenAI's), else
 * `Retry-After` as delta-seconds or an HTTP-date. Undefined when absent or malformed.
 */
export function parseRetryAfter(
  headers: Record<string, string | string[] | undefined>,
  now = Date.now(),
): number | undefined {
  const first = (name: string) => {
    const value = headers[name];
    return (Array.isArray(value) ? value[0] : value)?.trim();
  };
  const ms = first('retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = first('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  if (!HTTP_DATE.some((form) => form.test(value))) return undefined;
  const date = Date.parse(value.endsWith('GMT') ? value : `${value} GMT`);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** 529 is Anthropic's overloaded_error. */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504, 529]);

/** 429, 500, 502, 503, 504, 529, timeouts and connection failures (resets, refusals). */
export function isRetryable(error: unknown): boolean {
  if (error instanceof UpstreamHttpError) return RETRYABLE_STATUS.has(error.status);
  return error instanceof UpstreamNetworkError;
}

/**
 * Delay before retry `retry` (1-based): the upstream's Retry-After / retry-after-ms when given
 * (exactly, never less), else full-jitter exponential backoff: uniform in
 * [0, min(maxDelayMs, baseDelayMs * 2^(retry-1))). Null when the upstream asks for longer than
 * `maxRetryAfterMs`: not worth waiting for.
 */
export function retryDelay(
  error: unknown,
  retry: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number | null {
  if (error instanceof UpstreamHttpError && error.retryAfterMs !== undefined) {
    return error.retryAfterMs > policy.maxRetryAfterMs ? null : error.retryAfterMs;
  }
  return backoffDelay(retry, { baseMs: policy.baseDelayMs, maxMs: policy.maxDelayMs, jitter: true }, random);
}

import { UpstreamHttpError, UpstreamNetworkError } from '../providers/upstream.types';
import { sleep } from '../providers/simulated.transport';

export interface RetryPolicy {
  /** Total attempts, first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The longest `Retry-After` honoured; a longer one ends the retries. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 30_000,
};

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export function isRetryable(error: unknown): boolean {
  if (error instanceof UpstreamHttpError) return RETRYABLE_STATUS.has(error.status);
  return error instanceof UpstreamNetworkError;
}

/** Delay before retry `n` (1-based): the upstream's Retry-After when given, else full-jitter backoff. */
export function retryDelay(error: unknown, retry: number, policy: RetryPolicy, random = Math.random): number {
  if (error instanceof UpstreamHttpError && error.retryAfterMs !== undefined) return error.retryAfterMs;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.floor(random() * ceiling);
}

/** The error that ends a call, with how many attempts were made. */
export class AttemptsExhaustedError extends Error {
  constructor(
    readonly last: unknown,
    readonly attempts: number,
  ) {
    super(last instanceof Error ? last.message : String(last));
    this.name = 'AttemptsExhaustedError';
  }
}

/**
 * Runs `fn` until it succeeds, fails with a non-retryable error, or attempts run out.
 * `fn` gets the attempt number (1-based).
 */
export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<{ value: T; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return { value: await fn(attempt), attempts: attempt };
    } catch (error) {
      if (!isRetryable(error) || attempt >= policy.attempts || signal?.aborted) {
        throw new AttemptsExhaustedError(error, attempt);
      }
      const delay = retryDelay(error, attempt, policy);
      if (delay > policy.maxRetryAfterMs) throw new AttemptsExhaustedError(error, attempt);
      await sleep(delay, signal);
    }
  }
}

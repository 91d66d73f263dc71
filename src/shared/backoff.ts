/** Exponential backoff: how long to wait before each retry of something that failed. */
export interface Backoff {
  /** The wait before the first retry... */
  baseMs: number;
  /** ...doubling each retry, up to this. */
  maxMs: number;
  /**
   * Full jitter: the wait is drawn uniformly below the ceiling, so callers that failed together do
   * not retry together (the AWS architecture blog's "Exponential Backoff And Jitter").
   */
  jitter?: boolean;
}

/** The wait before retry `retry` (1-based): min(maxMs, baseMs * 2^(retry-1)), or a uniform draw below it. */
export function backoffDelay(retry: number, policy: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  return policy.jitter ? Math.floor(random() * ceiling) : ceiling;
}

import { UnauthenticatedError } from '../shared/errors';
import type { Logger } from '../shared/logger';

const WINDOW_MS = 60_000;
const FREE_FAILURES = 10;
const MAX_DELAY_MS = 5_000;

/**
 * Slows down repeated failed authentication from one source: after 10 failures within a
 * minute, each further attempt from it waits (doubling, up to 5 s) and is logged. One instance
 * serves every door (GraphQL over HTTP and WebSocket, the REST /v1 endpoints), so failures on one
 * hold back the others.
 */
export class AuthThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly log: Logger) {}

  /** Runs `attempt` for `source` after the source's delay; an UnauthenticatedError counts as a failure. */
  async check<T>(source: string, attempt: () => Promise<T>): Promise<T> {
    const delay = this.delayFor(source);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof UnauthenticatedError) this.failed(source);
      throw error;
    }
  }

  /** How long to hold this source's next attempt, in ms. */
  delayFor(source: string, now = Date.now()): number {
    const entry = this.failures.get(source);
    if (!entry || now - entry.since > WINDOW_MS || entry.count < FREE_FAILURES) return 0;
    return Math.min(MAX_DELAY_MS, 100 * 2 ** (entry.count - FREE_FAILURES));
  }

  failed(source: string, now = Date.now()): void {
    const entry = this.failures.get(source);
    if (!entry || now - entry.since > WINDOW_MS) {
      if (this.failures.size > 50_000) this.failures.clear();
      this.failures.set(source, { count: 1, since: now });
      return;
    }
    entry.count++;
    if (entry.count >= FREE_FAILURES)
      this.log.warn({ source, failures: entry.count }, 'repeated failed authentication');
  }
}

import { LRUCache } from 'lru-cache';
import { backoffDelay } from '../../shared/backoff';
import { UnauthenticatedError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';

const WINDOW_MS = 60_000;
const FREE_FAILURES = 10;
/** 100 ms for the first failure past the free ones, doubling up to 5 s. */
const THROTTLE = { baseMs: 100, maxMs: 5_000 };
/** Sources remembered at once; the least recently failing go first, so a flood cannot wipe the table. */
const MAX_SOURCES = 100_000;

/**
 * Slows down repeated failed authentication from one source: after 10 failures within a
 * minute, each further failure from it is answered late (doubling, up to 5 s) and logged. Only
 * failures wait: a valid key from the same address is looked up and served at once, so someone
 * guessing keys behind a shared address (an office NAT, a proxy) cannot lock out its real users.
 * One instance serves every door (GraphQL over HTTP and WebSocket, the REST /v1 endpoints), so
 * failures on one count on the others.
 */
export class AuthThrottle {
  private readonly failures = new LRUCache<string, { count: number; since: number }>({ max: MAX_SOURCES });

  constructor(private readonly log: Logger) {}

  /** Runs `attempt` for `source`; an UnauthenticatedError counts as a failure and is answered after the source's delay. */
  async check<T>(source: string, attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof UnauthenticatedError) {
        const delay = this.delayFor(source);
        this.failed(source);
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      }
      throw error;
    }
  }

  /** How long this source's next failure is held, in ms. */
  delayFor(source: string, now = Date.now()): number {
    const entry = this.failures.get(source);
    if (!entry || now - entry.since > WINDOW_MS || entry.count < FREE_FAILURES) return 0;
    return backoffDelay(entry.count - FREE_FAILURES + 1, THROTTLE);
  }

  failed(source: string, now = Date.now()): void {
    const entry = this.failures.get(source);
    if (!entry || now - entry.since > WINDOW_MS) {
      this.failures.set(source, { count: 1, since: now });
      return;
    }
    entry.count++;
    if (entry.count >= FREE_FAILURES)
      this.log.warn({ source, failures: entry.count }, 'repeated failed authentication');
  }
}

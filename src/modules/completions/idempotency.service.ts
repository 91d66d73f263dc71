import type { DataSource } from 'typeorm';
import { backoffDelay } from '../../shared/backoff';
import { IdempotencyKeyReusedError, RateLimitedError } from '../../shared/errors';
import { formatUsd, parseUsd } from '../../shared/money';
import type { CompletionResult } from './completion.types';

const KEEP_MS = 24 * 3_600_000;
/** How often a caller looks again at a requestId another call holds: 25 ms, doubling to 250 ms. */
const POLL = { baseMs: 25, maxMs: 250 };

/** A result as the idempotency record keeps it (money and time as text). */
export type StoredResult = Omit<CompletionResult, 'cost' | 'cacheSavings' | 'createdAt' | 'id'> & {
  cost: string;
  cacheSavings: string;
};

/** This instance's hold on a requestId while its call runs. */
export interface IdempotencyClaim {
  projectId: string;
  requestId: string;
  /** The claim took over a lapsed lease: the first call died, and this one replaces it. */
  tookOver: boolean;
}

export interface IdempotencyPolicy {
  /** How long a claim holds without renewal; the running instance renews it every third of that. */
  leaseMs: number;
  /** How long a caller waits on another caller's call before giving up (the call deadline, plus a lease). */
  waitMs: number;
}

/**
 * requestId semantics: concurrent duplicates share one upstream call (in process: one promise;
 * across instances: the database row, which the others wait on), and a repeat within 24 hours
 * returns the stored result with no new charge. The record is completed in the settle's own
 * transaction (see recordUsage's `done`), so a call that was charged always has its result to
 * replay. While a call runs, its claim is a lease this instance renews; a lease that lapsed (its
 * instance died) is claimed by the next caller, who runs the call again. The same requestId with a
 * different request is refused (IDEMPOTENCY_KEY_REUSED), as Stripe does.
 */
export class IdempotencyService {
  private readonly inflight = new Map<string, Promise<CompletionResult>>();
  /** Claims held by this instance's running calls, with when each lease was last renewed (ms). */
  private readonly leases = new Map<string, { claim: IdempotencyClaim; renewedAt: number }>();
  private readonly renewer: NodeJS.Timeout;

  constructor(
    private readonly db: DataSource,
    private readonly policy: IdempotencyPolicy,
  ) {
    this.renewer = setInterval(() => void this.renewLeases(), Math.max(50, Math.floor(policy.leaseMs / 3)));
    this.renewer.unref();
  }

  /**
   * Runs `work` once per (project, requestId): a concurrent duplicate here shares its promise, one
   * elsewhere waits for its result, a repeat replays it. `requestHash` identifies the request.
   */
  async once(
    projectId: string,
    requestId: string,
    requestHash: string,
    work: (claim: IdempotencyClaim) => Promise<CompletionResult>,
  ): Promise<CompletionResult> {
    const key = `${projectId}:${requestId}`;
    const shared = this.inflight.get(key);
    if (shared) return shared.then((r) => ({ ...r, replayed: true }));
    const promise = this.claimAndRun(projectId, requestId, requestHash, work);
    this.inflight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.inflight.delete(key);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.renewer);
  }

  private async claimAndRun(
    projectId: string,
    requestId: string,
    requestHash: string,
    work: (claim: IdempotencyClaim) => Promise<CompletionResult>,
  ): Promise<CompletionResult> {
    const deadline = Date.now() + this.policy.waitMs;
    let claim: IdempotencyClaim | null = null;
    for (let look = 1; ; look++) {
      claim = await this.claim(projectId, requestId, requestHash);
      if (claim) break;
      const [row]: {
        status: string;
        response: StoredResult & { id: string; createdAt: string };
        request_hash: string | null;
      }[] = await this.db.query(
        `SELECT status, response, request_hash FROM idempotency_records WHERE project_id = $1 AND request_id = $2`,
        [projectId, requestId],
      );
      if (row && row.request_hash !== null && row.request_hash !== requestHash)
        throw new IdempotencyKeyReusedError();
      if (row?.status === 'DONE' && row.response) return revive(row.response);
      if (Date.now() > deadline) {
        throw new RateLimitedError('A call with this requestId is still in progress', 1000);
      }
      await new Promise((r) => setTimeout(r, backoffDelay(look, POLL)));
    }
    const key = `${projectId}:${requestId}`;
    this.leases.set(key, { claim, renewedAt: Date.now() });
    try {
      return await work(claim);
    } catch (error) {
      // A failed call leaves no record, so the same requestId may be tried again.
      await this.db.query(
        `DELETE FROM idempotency_records WHERE project_id = $1 AND request_id = $2 AND status = 'IN_PROGRESS'`,
        [projectId, requestId],
      );
      throw error;
    } finally {
      this.leases.delete(key);
    }
  }

  /**
   * Claims the requestId: a new record, or one whose 24 h ran out, or an IN_PROGRESS one whose
   * lease lapsed (for the same request). Null when someone else holds it (or it is DONE).
   */
  private async claim(
    projectId: string,
    requestId: string,
    requestHash: string,
  ): Promise<IdempotencyClaim | null> {
    const rows: { previous: string | null }[] = await this.db.query(
      `WITH prior AS (
         SELECT status FROM idempotency_records WHERE project_id = $1 AND request_id = $2
       )
       INSERT INTO idempotency_records (project_id, request_id, status, request_hash, lease_until, expires_at)
       VALUES ($1, $2, 'IN_PROGRESS', $3, now() + $4 * interval '1 millisecond', now() + $5 * interval '1 millisecond')
       ON CONFLICT (project_id, request_id) DO UPDATE
          SET status = 'IN_PROGRESS', response = NULL, request_hash = EXCLUDED.request_hash,
              lease_until = EXCLUDED.lease_until, created_at = now(), expires_at = EXCLUDED.expires_at
        WHERE idempotency_records.expires_at < now()
           OR (idempotency_records.status = 'IN_PROGRESS'
               AND coalesce(idempotency_records.lease_until, idempotency_records.created_at + interval '2 minutes') < now()
               AND coalesce(idempotency_records.request_hash, EXCLUDED.request_hash) = EXCLUDED.request_hash)
       RETURNING (SELECT status FROM prior) AS previous`,
      [projectId, requestId, requestHash, this.policy.leaseMs, KEEP_MS],
    );
    if (rows.length === 0) return null;
    return { projectId, requestId, tookOver: rows[0]!.previous === 'IN_PROGRESS' };
  }

  /** Renews the leases of this instance's running calls not renewed for a third of the lease. */
  private async renewLeases(): Promise<void> {
    const now = Date.now();
    const due = [...this.leases.values()].filter((l) => now - l.renewedAt >= this.policy.leaseMs / 3);
    if (due.length === 0) return;
    try {
      // A record locked meanwhile is skipped, not waited for: a settle is completing it (and a
      // renewal waiting among a batch's locks could deadlock with it), or another instance is
      // looking at a lease that has not lapsed; the next tick renews it.
      await this.db.query(
        `UPDATE idempotency_records r SET lease_until = now() + $3 * interval '1 millisecond'
          WHERE (r.project_id, r.request_id) IN (
                  SELECT i.project_id, i.request_id
                    FROM idempotency_records i
                    JOIN unnest($1::uuid[], $2::varchar[]) AS c(project_id, request_id)
                      ON i.project_id = c.project_id AND i.request_id = c.request_id
                   WHERE i.status = 'IN_PROGRESS'
                     FOR UPDATE OF i SKIP LOCKED)`,
        [due.map((l) => l.claim.projectId), due.map((l) => l.claim.requestId), this.policy.leaseMs],
      );
      for (const lease of due) lease.renewedAt = now;
    } catch {
      // tried again at the next tick; the lease leaves room for two misses
    }
  }
}

/** A result in the form the idempotency record keeps (the settle adds its record's id and time). */
export function storedResult(result: Omit<CompletionResult, 'id' | 'createdAt'>): StoredResult {
  return { ...result, cost: formatUsd(result.cost), cacheSavings: formatUsd(result.cacheSavings) };
}

function revive(stored: StoredResult & { id: string; createdAt: string }): CompletionResult {
  return {
    ...stored,
    cost: parseUsd(stored.cost),
    cacheSavings: parseUsd(stored.cacheSavings ?? '0'),
    native: stored.native ?? null,
    passedThrough: stored.passedThrough ?? false,
    dropped: stored.dropped ?? [],
    createdAt: new Date(stored.createdAt),
    replayed: true,
  };
}

import type { DataSource } from 'typeorm';
import { RateLimitedError } from '../../shared/errors';
import { formatUsd, parseUsd } from '../../shared/money';
import type { CompletionResult } from './completion.types';

const KEEP_MS = 24 * 3_600_000;
const WAIT_STEP_MS = 25;
const WAIT_LIMIT_MS = 120_000;

type Stored = Omit<CompletionResult, 'cost' | 'createdAt'> & { cost: string; createdAt: string };

/**
 * requestId semantics: concurrent duplicates share one upstream call (in process: one promise;
 * across instances: the database row, which the others wait on), and a repeat within 24 hours
 * returns the stored result with no new charge.
 */
export class IdempotencyService {
  private readonly inflight = new Map<string, Promise<CompletionResult>>();

  constructor(private readonly db: DataSource) {}

  async run(
    projectId: string,
    requestId: string,
    work: () => Promise<CompletionResult>,
  ): Promise<CompletionResult> {
    const key = `${projectId}:${requestId}`;
    const shared = this.inflight.get(key);
    if (shared) return shared.then((r) => ({ ...r, replayed: true }));
    const promise = this.claimAndRun(projectId, requestId, work);
    this.inflight.set(key, promise);
    try {
      return await promise;
    } finally {
      this.inflight.delete(key);
    }
  }

  private async claimAndRun(
    projectId: string,
    requestId: string,
    work: () => Promise<CompletionResult>,
  ): Promise<CompletionResult> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    for (;;) {
      const claimed: unknown[] = await this.db.query(
        `INSERT INTO idempotency_records (project_id, request_id, status, expires_at)
         VALUES ($1, $2, 'IN_PROGRESS', now() + make_interval(secs => $3))
         ON CONFLICT (project_id, request_id) DO UPDATE SET status = 'IN_PROGRESS', response = NULL,
               created_at = now(), expires_at = EXCLUDED.expires_at
           WHERE idempotency_records.expires_at < now()
         RETURNING 1`,
        [projectId, requestId, KEEP_MS / 1000],
      );
      if (claimed.length > 0) break;
      const [row]: { status: string; response: Stored | null }[] = await this.db.query(
        `SELECT status, response FROM idempotency_records WHERE project_id = $1 AND request_id = $2`,
        [projectId, requestId],
      );
      if (row?.status === 'DONE' && row.response) return revive(row.response);
      if (Date.now() > deadline) {
        throw new RateLimitedError('A call with this requestId is still in progress', 1000);
      }
      await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
    }
    try {
      const result = await work();
      const stored: Stored = {
        ...result,
        cost: formatUsd(result.cost),
        createdAt: result.createdAt.toISOString(),
      };
      await this.db.query(
        `UPDATE idempotency_records SET status = 'DONE', response = $3 WHERE project_id = $1 AND request_id = $2`,
        [projectId, requestId, JSON.stringify(stored)],
      );
      return result;
    } catch (error) {
      // A failed call leaves no record, so the same requestId may be tried again.
      await this.db.query(`DELETE FROM idempotency_records WHERE project_id = $1 AND request_id = $2`, [
        projectId,
        requestId,
      ]);
      throw error;
    }
  }
}

function revive(stored: Stored): CompletionResult {
  return { ...stored, cost: parseUsd(stored.cost), createdAt: new Date(stored.createdAt), replayed: true };
}

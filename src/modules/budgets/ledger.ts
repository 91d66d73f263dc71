import type { Pool, QueryConfig } from 'pg';
import { Batcher } from '../../shared/batcher';
import { isConnectionFailure } from '../../shared/db-errors';
import { ledgerBatchItems, ledgerBatchSeconds } from '../../shared/metrics';
import type { LedgerItem, LedgerResults, SweepResult } from './ledger.types';

/** Most items one batch carries. */
const BATCH_ITEMS = 100;

/**
 * The ledger's database side: every reserve, settle and release goes through the SQL functions of
 * src/db/sql/ on a pg pool of the ledger's own. Concurrent items go to the database together
 * (group commit): one batch at a time, the items arriving meanwhile in the next, so under load many
 * calls share one round trip and one commit, while a lone call goes at once.
 */
export class Ledger {
  private readonly batch = new Batcher<LedgerItem, unknown>((items) => this.runBatch(items), {
    maxItems: BATCH_ITEMS,
    retryAlone: (error) => !isConnectionFailure(error),
    observe: (items, seconds) => {
      ledgerBatchItems.observe(items);
      ledgerBatchSeconds.observe(seconds);
    },
  });

  constructor(
    private readonly pool: Pool,
    /** A batch stuck longer than this is given up (its connection dropped): the next must not wait behind it forever. */
    private readonly timeoutMs: number,
  ) {}

  /** Runs one item, batched with whatever else is on its way. */
  submit<I extends LedgerItem>(item: I): Promise<LedgerResults[I['op']]> {
    return this.batch.submit(item) as Promise<LedgerResults[I['op']]>;
  }

  /**
   * Runs one item in a statement of its own: for the rare item that may lock rows outside what a
   * batch locks up front (a settle that supersedes another call's placeholder).
   */
  async alone<I extends LedgerItem>(item: I): Promise<LedgerResults[I['op']]> {
    const [result] = await this.runBatch([item]);
    return result as LedgerResults[I['op']];
  }

  /** Abandons (charges) or releases the holds of calls that died; with a request, only that request's, expired or not. */
  async sweepHolds(
    limit: number,
    charge: boolean,
    only?: { project: string; request: string },
  ): Promise<SweepResult> {
    const { rows } = await this.pool.query<{ result: SweepResult }>(
      'SELECT tollgate_sweep_holds($1, $2, $3, $4) AS result',
      [limit, charge, only?.project ?? null, only?.request ?? null],
    );
    return rows[0]!.result;
  }

  /**
   * Pushes back the expiry of live calls' holds (their calls still run). A hold locked meanwhile is
   * skipped, not waited for: a batch is settling or releasing it, and a renewal waiting in the middle
   * of the batch's locks could deadlock with it.
   */
  async renewHolds(ids: string[], ttlMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      `UPDATE reservations SET expires_at = now() + $2 * interval '1 millisecond'
        WHERE id IN (SELECT id FROM reservations WHERE id = ANY($1::uuid[]) AND status = 'ACTIVE'
                        FOR UPDATE SKIP LOCKED)`,
      [ids, ttlMs],
    );
  }

  /**
   * The batch function, as a named statement (each connection parses and plans it once). One
   * batch runs at a time, so a stuck one would hold up every call: past the timeout it fails
   * ("Query read timeout", a connection failure: settles retry and find what committed) and pg
   * drops its connection.
   */
  private async runBatch(items: LedgerItem[]): Promise<unknown[]> {
    const { rows } = await this.pool.query<{ results: unknown[] }>({
      name: 'tollgate_ledger_batch',
      text: 'SELECT tollgate_ledger_batch($1::jsonb) AS results',
      values: [JSON.stringify(items)],
      query_timeout: this.timeoutMs, // read by pg's client, missing from @types/pg's QueryConfig
    } as QueryConfig);
    const results = rows[0]?.results;
    if (!Array.isArray(results) || results.length !== items.length) {
      throw new Error(
        `the ledger batch answered ${JSON.stringify(results)?.slice(0, 200)} for ${items.length} items`,
      );
    }
    return results;
  }
}

import type { Pool, QueryConfig } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { ledgerBatchItems, ledgerBatchSeconds } from '../../server/metrics';
import { Batcher } from '../../shared/batcher';
import { isConnectionFailure } from '../../shared/db-errors';
import { formatUsd, parseUsd, type Pico } from '../../shared/money';
import type { BudgetPeriod, BudgetPolicy } from './budget.entity';
import { BudgetExceededError } from './budget.errors';
import { windowAt, type Window } from './period';
import type { ReservationHold } from './reservation.entity';

/** A budget that applies to a call, with the window the call falls in. */
export interface ApplicableBudget {
  id: string;
  apiKeyId: string | null;
  period: BudgetPeriod;
  policy: BudgetPolicy;
  limit: Pico;
  thresholds: number[];
  periodStart: Date;
  periodEnd: Date;
}

/** What a live reservation holds; `id` is null when no budget applied (nothing to hold). */
export interface Hold {
  id: string | null;
  amount: Pico;
  budgets: ApplicableBudget[];
}

/** A counter after a settle changed it: what alert rules look at. */
export interface SettledCounter {
  budget: ApplicableBudget;
  spent: Pico;
  reserved: Pico;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

export interface Charge {
  cost: Pico;
  promptTokens: number;
  completionTokens: number;
  /** Whether the call counts as a request on the counters (a failed call charges nothing and counts nothing). */
  countRequest: boolean;
}

const BUDGET_CACHE_MS = 5_000;

/** Most reserves and settles one batch carries. */
const BATCH_ITEMS = 100;

/** A reserve or a settle, as the batch function reads it. */
type LedgerItem = { op: 'reserve' | 'settle' } & Record<string, unknown>;

interface ReserveRow {
  reservation_id: string;
  stale: boolean;
  refused_budget: string | null;
  spent: string | null;
  reserved: string | null;
}

/** A budget_counters row as SQL returns it (NUMERIC and BIGINT as text). */
export interface CounterRow {
  spent: string;
  reserved: string;
  prompt_tokens: string;
  completion_tokens: string;
  requests: number;
}

interface SettleRow extends CounterRow {
  already: boolean;
  usage_id: string | null;
  usage_created_at: Date | null;
  budget_id: string;
}

/** A row of the batch function: an item's reserve or settle row, tagged with the item's index. */
type BatchRow = ReserveRow & SettleRow & { item: number };

/** A counter row of `budget`, in the form the alert rules read. */
export function counterOf(budget: ApplicableBudget, row: CounterRow): SettledCounter {
  return {
    budget,
    spent: parseUsd(row.spent),
    reserved: parseUsd(row.reserved),
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    requests: row.requests,
  };
}

/** What a settle's rows say: null when the hold was settled before (nothing changed). */
function settledFrom(
  hold: Hold,
  rows: SettleRow[],
): { usageId: string | null; createdAt: Date | null; counters: SettledCounter[] } | null {
  if (rows.length === 0) return { usageId: null, createdAt: null, counters: [] };
  if (rows[0].already) return null;
  // A budget deleted while the call was in flight took its counters with it: no row, no alert.
  const counters = rows.flatMap((row) => {
    const budget = hold.budgets.find((b) => b.id === row.budget_id);
    return budget ? [counterOf(budget, row)] : [];
  });
  return { usageId: rows[0].usage_id, createdAt: rows[0].usage_created_at, counters };
}

/** A budgets row (limit as text) with the window a call falls in. */
export function applicableOf(row: BudgetRow, window: Window): ApplicableBudget {
  return {
    id: row.id,
    apiKeyId: row.api_key_id,
    period: row.period,
    policy: row.policy,
    limit: parseUsd(row.limit_usd),
    thresholds: row.thresholds,
    periodStart: window.start,
    periodEnd: window.end,
  };
}

/** What the caller believes applies, in the reserve function's terms ("id:limit:period:zone", id order). */
function signature(rows: BudgetRow[]): string {
  return rows.map((r) => `${r.id}:${r.limit_usd}:${r.period}:${r.time_zone}`).join(',');
}

export interface BudgetRow {
  id: string;
  api_key_id: string | null;
  period: BudgetPeriod;
  policy: BudgetPolicy;
  limit_usd: string;
  thresholds: number[];
  time_zone: string;
}

/**
 * Reserve, settle, release. The database is the arbiter: a reservation is a conditional
 * increment of `reserved` on every counter that applies (all or none, in one transaction),
 * so concurrent calls on any number of instances can never overshoot a limit.
 */
export class ReservationService {
  /** Budget rows per (project, key), cached briefly; the reserve function refuses a stale list. */
  private readonly budgetCache = new Map<string, { rows: Promise<BudgetRow[]>; expires: number }>();
  /** Current windows per (period, zone): Intl is slow, and a window stays valid until its end. */
  private readonly windows = new Map<string, Window>();

  /**
   * Concurrent reserves and settles go to the database together (group commit): the items of a
   * batch run one after the other in one transaction, exactly as they would alone.
   */
  private readonly batch = new Batcher<LedgerItem, BatchRow[]>((items) => this.runBatch(items), {
    maxItems: BATCH_ITEMS,
    retryAlone: (error) => !isConnectionFailure(error),
    observe: (items, seconds) => {
      ledgerBatchItems.observe(items);
      ledgerBatchSeconds.observe(seconds);
    },
  });

  constructor(
    private readonly db: DataSource,
    private readonly ttlMs: number,
    /** A batch stuck longer than this is given up: the next one must not wait behind it forever. */
    private readonly batchTimeoutMs: number,
  ) {}

  /**
   * Holds `amount` on every applicable budget, or on none, in one database round trip: throws
   * BudgetExceededError naming a refusing budget (a REJECT one when any refuses, so a DOWNGRADE
   * never masks a hard limit). The counters stay locked only while the function runs.
   */
  async reserve(
    projectId: string,
    apiKeyId: string | null,
    requestId: string | null,
    amount: Pico,
    now = new Date(),
  ): Promise<Hold> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const rows = await this.budgetRows(projectId, apiKeyId, attempt > 0);
      const budgets = rows.map((row) => this.toApplicable(row, now));
      const result = await this.batch.submit({
        op: 'reserve',
        project: projectId,
        key: apiKeyId,
        request: requestId,
        amount: formatUsd(amount),
        ttlMs: this.ttlMs,
        signature: signature(rows),
        budgets: budgets.map((b) => b.id),
        starts: budgets.map((b) => b.periodStart.toISOString()),
        limits: rows.map((r) => r.limit_usd),
      });
      if (result[0]?.stale) continue; // budgets changed since they were cached: reload and retry
      if (budgets.length === 0) return { id: null, amount, budgets };
      const refused = result.filter((r) => r.refused_budget !== null);
      if (refused.length > 0) {
        const errors = refused.map((r) => {
          const budget = budgets.find((b) => b.id === r.refused_budget)!;
          return new BudgetExceededError({
            budgetId: budget.id,
            period: budget.period,
            policy: budget.policy,
            scope: budget.apiKeyId ? 'API_KEY' : 'PROJECT',
            spent: parseUsd(r.spent!),
            reserved: parseUsd(r.reserved!),
            limit: budget.limit,
            estimate: amount,
          });
        });
        throw errors.find((e) => e.shortfall.policy === 'REJECT') ?? errors[0];
      }
      return { id: result[0].reservation_id, amount, budgets };
    }
    throw new Error('the budgets of this project kept changing during the reservation');
  }

  /**
   * Turns a hold into the actual charge, inside `em` (the caller's transaction, which also writes
   * the usage record). Idempotent: a hold already settled changes nothing (and returns []); a hold
   * the sweeper released meanwhile is still charged (the call did happen), with nothing to unhold.
   */
  async settle(em: EntityManager, hold: Hold, charge: Charge): Promise<SettledCounter[]> {
    if (hold.id === null) return [];
    return (await this.callSettle(em, hold, charge, null))?.counters ?? [];
  }

  /**
   * The hot path's settle: the usage record, the reservation and the counters change in one step
   * (batched with concurrent settles, in its own transaction), so the counter rows are locked only
   * while the batch runs. A hold with no budget (id null) writes only the usage record. Null when
   * the hold was already settled (nothing was written).
   */
  async settleRecorded(
    hold: Hold,
    charge: Charge,
    usage: Record<string, unknown>,
  ): Promise<{ usageId: string; createdAt: Date; counters: SettledCounter[] } | null> {
    const rows = await this.batch.submit({
      op: 'settle',
      reservation: hold.id,
      cost: formatUsd(charge.cost),
      prompt: charge.promptTokens,
      completion: charge.completionTokens,
      requests: charge.countRequest ? 1 : 0,
      usage,
    });
    const result = settledFrom(hold, rows);
    if (!result) return null;
    return { usageId: result.usageId!, createdAt: result.createdAt!, counters: result.counters };
  }

  private async callSettle(
    em: EntityManager,
    hold: Hold,
    charge: Charge,
    usage: Record<string, unknown> | null,
  ): Promise<{ usageId: string | null; createdAt: Date | null; counters: SettledCounter[] } | null> {
    const rows: SettleRow[] = await em.query(
      `SELECT * FROM tollgate_settle($1, $2::numeric, $3, $4, $5, $6::jsonb)`,
      [
        hold.id,
        formatUsd(charge.cost),
        charge.promptTokens,
        charge.completionTokens,
        charge.countRequest ? 1 : 0,
        usage === null ? null : JSON.stringify(usage),
      ],
    );
    return settledFrom(hold, rows);
  }

  /**
   * Runs `items` through the batch function; returns each item's rows, in item order. A named
   * statement on TypeORM's own pg pool: each connection parses and plans it once, not per batch.
   * One batch runs at a time, so a stuck one would hold up every call: past `batchTimeoutMs` it
   * fails ("Query read timeout", a connection failure: settles retry, and find what committed)
   * and pg drops its connection.
   */
  private async runBatch(items: LedgerItem[]): Promise<BatchRow[][]> {
    const pool = (this.db.driver as PostgresDriver).master as Pool;
    const { rows } = await pool.query<BatchRow>({
      name: 'tollgate_ledger_batch',
      text: 'SELECT * FROM tollgate_ledger_batch($1::jsonb)',
      values: [JSON.stringify(items)],
      query_timeout: this.batchTimeoutMs, // read by pg's client, missing from @types/pg's QueryConfig
    } as QueryConfig);
    const byItem = items.map((): BatchRow[] => []);
    for (const row of rows) byItem[row.item].push(row);
    return byItem;
  }

  private budgetRows(projectId: string, apiKeyId: string | null, fresh: boolean): Promise<BudgetRow[]> {
    const key = `${projectId}:${apiKeyId ?? ''}`;
    const now = Date.now();
    const hit = this.budgetCache.get(key);
    if (!fresh && hit && hit.expires > now) return hit.rows;
    const rows = this.db.query(
      `SELECT id, api_key_id, period, policy, limit_usd::text AS limit_usd, thresholds, time_zone FROM budgets
        WHERE project_id = $1 AND (api_key_id IS NULL OR api_key_id = $2) ORDER BY id`,
      [projectId, apiKeyId],
    ) as Promise<BudgetRow[]>;
    if (this.budgetCache.size > 10_000) this.budgetCache.clear();
    this.budgetCache.set(key, { rows, expires: now + BUDGET_CACHE_MS });
    rows.catch(() => this.budgetCache.delete(key));
    return rows;
  }

  private toApplicable(row: BudgetRow, now: Date): ApplicableBudget {
    const key = `${row.period}|${row.time_zone}`;
    let window = this.windows.get(key);
    if (!window || now < window.start || now >= window.end) {
      window = windowAt(now, row.period, row.time_zone);
      this.windows.set(key, window);
    }
    return applicableOf(row, window);
  }

  /** Gives a hold back untouched (the call failed before costing anything). Idempotent. */
  async release(hold: Hold, em?: EntityManager): Promise<boolean> {
    if (hold.id === null) return false;
    const id = hold.id;
    const run = async (tx: EntityManager) => (await this.releaseAll(tx, [id])) > 0;
    return em ? run(em) : this.db.transaction(run);
  }

  /** Releases reservations whose calls died (expired while ACTIVE). Returns how many. */
  async sweep(limit = 500): Promise<number> {
    return this.db.transaction(async (em) => {
      const expired: { id: string }[] = await em.query(
        `SELECT id FROM reservations WHERE status = 'ACTIVE' AND expires_at < now()
          ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [limit],
      );
      const ids = expired.map((r) => r.id);
      return ids.length === 0 ? 0 : this.releaseAll(em, ids);
    });
  }

  /**
   * Marks ACTIVE reservations released and takes what they held off the counters. All their holds are
   * summed per counter and applied in budget id order, the order reserve locks counters in: taking
   * them reservation by reservation would lock counters out of order and could deadlock a reserve.
   */
  private async releaseAll(em: EntityManager, ids: string[]): Promise<number> {
    const [rows]: { holds: ReservationHold[] }[][] = await em.query(
      `UPDATE reservations SET status = 'RELEASED', closed_at = now()
        WHERE id = ANY($1::uuid[]) AND status = 'ACTIVE' RETURNING holds`,
      [ids],
    );
    if (!rows || rows.length === 0) return 0;
    const held = new Map<string, { budgetId: string; periodStart: string; amount: Pico }>();
    for (const h of rows.flatMap((r) => r.holds)) {
      const periodStart = new Date(h.periodStart).toISOString();
      const key = `${h.budgetId}|${periodStart}`;
      const sum = held.get(key) ?? { budgetId: h.budgetId, periodStart, amount: 0n };
      sum.amount += parseUsd(h.amount);
      held.set(key, sum);
    }
    // Postgres orders uuids as their lowercase hex text, so plain string order is its order.
    const ordered = [...held.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, h]) => h);
    for (const h of ordered) {
      await em.query(
        `UPDATE budget_counters SET reserved = reserved - $3::numeric, updated_at = now()
          WHERE budget_id = $1 AND period_start = $2`,
        [h.budgetId, h.periodStart, formatUsd(h.amount)],
      );
    }
    return rows.length;
  }
}

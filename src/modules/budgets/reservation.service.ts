import type { DataSource, EntityManager } from 'typeorm';
import { formatUsd, parseUsd, type Pico } from '../../shared/money';
import type { BudgetPeriod, BudgetPolicy } from './budget.entity';
import { BudgetExceededError } from './budget.errors';
import { windowAt } from './period';
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

interface BudgetRow {
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
  constructor(
    private readonly db: DataSource,
    private readonly ttlMs: number,
  ) {}

  /** The budgets that apply to a call by `apiKeyId` of `projectId` at `now`. */
  async applicable(
    projectId: string,
    apiKeyId: string | null,
    now: Date,
    em?: EntityManager,
  ): Promise<ApplicableBudget[]> {
    const rows: BudgetRow[] = await (em ?? this.db.manager).query(
      `SELECT id, api_key_id, period, policy, limit_usd, thresholds, time_zone FROM budgets
        WHERE project_id = $1 AND (api_key_id IS NULL OR api_key_id = $2) ORDER BY id`,
      [projectId, apiKeyId],
    );
    return rows.map((row) => {
      const window = windowAt(now, row.period, row.time_zone);
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
    });
  }

  /**
   * Holds `amount` on every applicable budget, or on none: throws BudgetExceededError naming the
   * first budget it does not fit (REJECT budgets first, so a DOWNGRADE never masks a hard limit).
   */
  async reserve(
    projectId: string,
    apiKeyId: string | null,
    requestId: string | null,
    amount: Pico,
    now = new Date(),
  ): Promise<Hold> {
    return this.db.transaction(async (em) => {
      const budgets = await this.applicable(projectId, apiKeyId, now, em);
      if (budgets.length === 0) return { id: null, amount, budgets };
      await em.query(
        `INSERT INTO budget_counters (budget_id, period_start)
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) ON CONFLICT DO NOTHING`,
        [budgets.map((b) => b.id), budgets.map((b) => b.periodStart.toISOString())],
      );
      // Lock order: by budget id, the same in every transaction, so two reserves cannot deadlock.
      // Every budget is tried (a refused conditional update changes nothing and locks nothing), so
      // the refusal can name a REJECT budget whenever one refuses: a DOWNGRADE never masks it.
      const refused: BudgetExceededError[] = [];
      for (const budget of budgets) {
        // UPDATE ... RETURNING comes back from TypeORM as [rows, count]
        const [updated]: unknown[][] = await em.query(
          `UPDATE budget_counters SET reserved = reserved + $3::numeric, updated_at = now()
            WHERE budget_id = $1 AND period_start = $2 AND spent + reserved + $3::numeric <= $4::numeric
            RETURNING budget_id`,
          [budget.id, budget.periodStart.toISOString(), formatUsd(amount), formatUsd(budget.limit)],
        );
        if (updated.length > 0) continue;
        const [row]: { spent: string; reserved: string }[] = await em.query(
          `SELECT spent, reserved FROM budget_counters WHERE budget_id = $1 AND period_start = $2`,
          [budget.id, budget.periodStart.toISOString()],
        );
        refused.push(
          new BudgetExceededError({
            budgetId: budget.id,
            period: budget.period,
            policy: budget.policy,
            scope: budget.apiKeyId ? 'API_KEY' : 'PROJECT',
            spent: parseUsd(row.spent),
            reserved: parseUsd(row.reserved),
            limit: budget.limit,
            estimate: amount,
          }),
        );
      }
      if (refused.length > 0) {
        throw refused.find((e) => e.shortfall.policy === 'REJECT') ?? refused[0];
      }
      const holds: ReservationHold[] = budgets.map((b) => ({
        budgetId: b.id,
        periodStart: b.periodStart.toISOString(),
        amount: formatUsd(amount),
      }));
      // Expiry on the database clock, the one the sweeper reads (not `now`, which only picks windows).
      const [row]: { id: string }[] = await em.query(
        `INSERT INTO reservations (project_id, api_key_id, request_id, amount, holds, expires_at)
         VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond') RETURNING id`,
        [projectId, apiKeyId, requestId, formatUsd(amount), JSON.stringify(holds), this.ttlMs],
      );
      return { id: row.id, amount, budgets };
    });
  }

  /**
   * Turns a hold into the actual charge, inside `em` (the caller's transaction, which also writes
   * the usage record). Idempotent: a hold already settled changes nothing; a hold the sweeper
   * released meanwhile is still charged (the call did happen), just with nothing left to unhold.
   */
  async settle(em: EntityManager, hold: Hold, charge: Charge): Promise<SettledCounter[]> {
    if (hold.id === null) return [];
    const [closed]: { status: string }[][] = await em.query(
      `UPDATE reservations r SET status = 'SETTLED', closed_at = now()
         FROM (SELECT id, status FROM reservations WHERE id = $1 FOR UPDATE) old
        WHERE r.id = old.id AND old.status <> 'SETTLED' RETURNING old.status`,
      [hold.id],
    );
    if (!closed || closed.length === 0) return [];
    const stillHeld = closed[0].status === 'ACTIVE' ? hold.amount : 0n;
    const counters: SettledCounter[] = [];
    for (const budget of hold.budgets) {
      const [rows]: {
        spent: string;
        reserved: string;
        prompt_tokens: string;
        completion_tokens: string;
        requests: number;
      }[][] = await em.query(
        `UPDATE budget_counters
              SET reserved = reserved - $3::numeric, spent = spent + $4::numeric,
                  prompt_tokens = prompt_tokens + $5, completion_tokens = completion_tokens + $6,
                  requests = requests + $7, updated_at = now()
            WHERE budget_id = $1 AND period_start = $2
        RETURNING spent, reserved, prompt_tokens, completion_tokens, requests`,
        [
          budget.id,
          budget.periodStart.toISOString(),
          formatUsd(stillHeld),
          formatUsd(charge.cost),
          charge.promptTokens,
          charge.completionTokens,
          charge.countRequest ? 1 : 0,
        ],
      );
      const row = rows[0];
      // The budget was deleted while the call was in flight (its counters went with it).
      if (!row) continue;
      const spent = parseUsd(row.spent);
      counters.push({
        budget,
        spent,
        reserved: parseUsd(row.reserved),
        promptTokens: Number(row.prompt_tokens),
        completionTokens: Number(row.completion_tokens),
        requests: row.requests,
      });
    }
    return counters;
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

import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import { formatUsd, parseUsd, type Pico } from '../../shared/money';
import { BudgetExceededError } from './budget.errors';
import {
  applicableOf,
  budgetSignature,
  counterOfJson,
  type ApplicableBudget,
  type BudgetCounterState,
  type BudgetRow,
} from './counters';
import type { Ledger } from './ledger';
import type { AbandonedRow, SettleItem, SweepResult, UsageRow } from './ledger.types';
import { windowAt, type Window } from './period';

/** What a live reservation holds; `id` is null when no budget applied (nothing to hold). */
export interface Hold {
  id: string | null;
  amount: Pico;
  budgets: ApplicableBudget[];
}

export interface HoldRequest {
  projectId: string;
  apiKeyId: string | null;
  requestId: string | null;
  amount: Pico;
  /** The usage record to write if the call is abandoned (its instance dies before it settles). */
  abandoned: AbandonedRow;
}

export interface RecordedUsage {
  usageId: string;
  createdAt: Date;
  /** The counters of the call's budgets after the charge (what alert rules look at). */
  counters: BudgetCounterState[];
}

export interface ReservationPolicy {
  /** A hold not renewed for this long is its dead call's: the sweeper takes it. */
  ttlMs: number;
  /** Abandoned holds are charged at their reserved amount (true) or released (false). */
  chargeAbandoned: boolean;
}

const BUDGET_CACHE_MS = 5_000;
/** How many holds the sweeper takes in one transaction. */
const SWEEP_BATCH = 500;

/**
 * Budget holds. The database is the arbiter: a reservation is a conditional increment of
 * `reserved` on every counter that applies (all or none, in one transaction), so concurrent calls
 * on any number of instances can never overshoot a limit. A hold lives as long as its call: this
 * instance renews the holds of its calls in flight, so only the holds of calls that died expire.
 */
export class ReservationService {
  /** Budget rows per (project, key), cached briefly; the reserve function refuses a stale list. */
  private readonly budgetCache = new LRUCache<string, { rows: Promise<BudgetRow[]> }>({
    max: 10_000,
    ttl: BUDGET_CACHE_MS,
  });
  /** Current windows per (period, zone): Intl is slow, and a window stays valid until its end. */
  private readonly windows = new Map<string, Window>();
  /** Holds of this instance's calls in flight, with when each was last renewed (ms). */
  private readonly live = new Map<string, number>();
  private readonly renewer: NodeJS.Timeout;
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly db: DataSource,
    private readonly ledger: Ledger,
    private readonly policy: ReservationPolicy,
  ) {
    this.renewer = setInterval(() => void this.renewLiveHolds(), this.renewEveryMs);
    this.renewer.unref();
  }

  /** A third of the TTL: a hold is renewed at least twice before it could expire. */
  private get renewEveryMs(): number {
    return Math.max(100, Math.floor(this.policy.ttlMs / 3));
  }

  /**
   * Holds `amount` on every applicable budget, or on none, in one database round trip: throws
   * BudgetExceededError naming a refusing budget (a REJECT one when any refuses, so a DOWNGRADE
   * never masks a hard limit). The counters stay locked only while the function runs.
   */
  async reserveHold(req: HoldRequest, now = new Date()): Promise<Hold> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const rows = await this.budgetRows(req.projectId, req.apiKeyId, attempt > 0);
      const budgets = rows.map((row) => this.toApplicable(row, now));
      const result = await this.ledger.submit({
        op: 'reserve',
        project: req.projectId,
        key: req.apiKeyId,
        request: req.requestId,
        amount: formatUsd(req.amount),
        ttlMs: this.policy.ttlMs,
        signature: budgetSignature(rows),
        budgets: budgets.map((b) => b.id),
        starts: budgets.map((b) => b.periodStart.toISOString()),
        limits: rows.map((r) => r.limit_usd),
        usage: req.abandoned,
      });
      if ('stale' in result) continue; // budgets changed since they were cached: reload and retry
      if ('refused' in result) {
        const errors = result.refused.map((r) => {
          const budget = budgets.find((b) => b.id === r.budget)!;
          return new BudgetExceededError({
            budgetId: budget.id,
            period: budget.period,
            policy: budget.policy,
            scope: budget.apiKeyId ? 'API_KEY' : 'PROJECT',
            spent: parseUsd(r.spent),
            reserved: parseUsd(r.reserved),
            limit: budget.limit,
            estimate: req.amount,
          });
        });
        throw errors.find((e) => e.shortfall.policy === 'REJECT') ?? errors[0]!;
      }
      return { id: result.reservation, amount: req.amount, budgets };
    }
    throw new Error('the budgets of this project kept changing during the reservation');
  }

  /**
   * Keeps a hold alive while its call runs (renewed by this instance); the returned function ends
   * that when the call is done. Without it, a call longer than the TTL would lose its hold to the
   * sweeper while it runs, and other calls could spend that money.
   */
  keepAlive(hold: Hold): () => void {
    const id = hold.id;
    if (id === null) return () => undefined;
    this.live.set(id, Date.now());
    return () => this.live.delete(id);
  }

  /**
   * Charges a call: its usage record, the reservation and the counters change in one step (batched
   * with concurrent ones). A hold with no budget (id null) writes only the usage record. Idempotent:
   * settling again (a retry after a lost connection) changes nothing and reports no counters.
   */
  async recordUsage(
    hold: Hold,
    usage: UsageRow,
    options: Pick<SettleItem, 'supersede' | 'done'> = {},
  ): Promise<RecordedUsage> {
    const item: SettleItem = { op: 'settle', reservation: hold.id, usage, ...options };
    // A supersede may lock another call's counters, outside what a batch locks up front: alone.
    const result = options.supersede ? await this.ledger.alone(item) : await this.ledger.submit(item);
    // Settled before (a retry after a lost connection): its counters were the first try's to report.
    if ('already' in result) {
      const ref = result.usage ?? { id: usage.id, created_at: new Date().toISOString() };
      return { usageId: ref.id, createdAt: new Date(ref.created_at), counters: [] };
    }
    const counters = result.counters.flatMap((json) => {
      const budget = hold.budgets.find((b) => b.id === json.budget);
      // A budget deleted while the call was in flight took its counters with it: no row, no alert.
      return budget ? [counterOfJson(budget, json)] : [];
    });
    return { usageId: result.usage.id, createdAt: new Date(result.usage.created_at), counters };
  }

  /** Gives a hold back untouched (the call failed before costing anything), with the failed attempt's record if any. */
  async releaseHold(hold: Hold, failure: UsageRow | null): Promise<void> {
    if (hold.id === null && failure === null) return;
    await this.ledger.submit({ op: 'release', reservation: hold.id, usage: failure });
  }

  /** Takes the expired holds of calls that died: charged as ABANDONED, or released, as the operator chose. */
  async sweepExpiredHolds(): Promise<SweepResult> {
    return this.ledger.sweepHolds(SWEEP_BATCH, this.policy.chargeAbandoned);
  }

  /**
   * Takes at once the holds of a requestId whose lease lapsed (its call died): a retry is about to
   * run it again, and must find the first call's charge as an ABANDONED placeholder to replace.
   */
  abandonHoldsOf(projectId: string, requestId: string): Promise<SweepResult> {
    return this.ledger.sweepHolds(SWEEP_BATCH, this.policy.chargeAbandoned, {
      project: projectId,
      request: requestId,
    });
  }

  /** Stops renewing (at shutdown, after the last call settled). */
  async close(): Promise<void> {
    clearInterval(this.renewer);
    await this.renewing;
  }

  /** Renews the live holds not renewed for a third of the TTL (short calls never need it). */
  private async renewLiveHolds(): Promise<void> {
    if (this.renewing || this.live.size === 0) return;
    const now = Date.now();
    const due = [...this.live].filter(([, at]) => now - at >= this.renewEveryMs).map(([id]) => id);
    if (due.length === 0) return;
    this.renewing = this.ledger
      .renewHolds(due, this.policy.ttlMs)
      .then(() => {
        for (const id of due) if (this.live.has(id)) this.live.set(id, now);
      })
      .catch(() => undefined) // tried again at the next tick; the TTL leaves room for two misses
      .finally(() => (this.renewing = undefined));
    await this.renewing;
  }

  private budgetRows(projectId: string, apiKeyId: string | null, fresh: boolean): Promise<BudgetRow[]> {
    const key = `${projectId}:${apiKeyId ?? ''}`;
    const hit = this.budgetCache.get(key);
    if (!fresh && hit) return hit.rows;
    const rows = this.db.query(
      `SELECT id, api_key_id, period, policy, limit_usd::text AS limit_usd, thresholds, time_zone FROM budgets
        WHERE project_id = $1 AND (api_key_id IS NULL OR api_key_id = $2) ORDER BY id`,
      [projectId, apiKeyId],
    ) as Promise<BudgetRow[]>;
    this.budgetCache.set(key, { rows });
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
}

import { parseUsd, type Pico } from '../../shared/money';
import type { BudgetPeriod, BudgetPolicy } from './budget.entity';
import type { CounterJson } from './ledger.types';
import type { Window } from './period';

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

/** A budget's counter for one window after a change: what alert rules look at. */
export interface BudgetCounterState {
  budget: ApplicableBudget;
  spent: Pico;
  reserved: Pico;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

/** A budgets row as SQL returns it (limit as text). */
export interface BudgetRow {
  id: string;
  api_key_id: string | null;
  period: BudgetPeriod;
  policy: BudgetPolicy;
  limit_usd: string;
  thresholds: number[];
  time_zone: string;
}

/** A budget_counters row as SQL returns it (NUMERIC and BIGINT as text). */
export interface CounterRow {
  spent: string;
  reserved: string;
  prompt_tokens: string;
  completion_tokens: string;
  requests: number;
}

/** A budgets row with the window a call falls in. */
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

/** A counter row of `budget`, in the form alert rules read. */
export function counterOf(budget: ApplicableBudget, row: CounterRow): BudgetCounterState {
  return {
    budget,
    spent: parseUsd(row.spent),
    reserved: parseUsd(row.reserved),
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    requests: row.requests,
  };
}

/** A counter as the settle function reports it, of `budget`. */
export function counterOfJson(budget: ApplicableBudget, json: CounterJson): BudgetCounterState {
  return {
    budget,
    spent: parseUsd(json.spent),
    reserved: parseUsd(json.reserved),
    promptTokens: json.prompt,
    completionTokens: json.completion,
    requests: json.requests,
  };
}

/** What the caller believes applies, as tollgate_budget_signature writes it ("id:limit:period:zone", id order). */
export function budgetSignature(rows: BudgetRow[]): string {
  return rows.map((r) => `${r.id}:${r.limit_usd}:${r.period}:${r.time_zone}`).join(',');
}

import type { UsageKind, UsageOutcome } from '../usage/usage-record.entity';

/**
 * The contract between TypeScript and the ledger's SQL functions (src/db/sql/): what each item
 * sends and what each function answers. Money travels as decimal text both ways (never a JSON
 * number, which would round); keys are the functions' own.
 */

/** A usage record's columns, as tollgate_insert_usage writes them (one row of usage_records). */
export interface UsageRow {
  /** Chosen by the caller, so a settle retried after a lost connection finds its first try. */
  id: string;
  project_id: string;
  api_key_id: string | null;
  request_id: string;
  kind: UsageKind;
  model_requested: string;
  model_served: string;
  provider: string;
  route_tier: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_prompt_tokens: number;
  cache_write_tokens: number;
  reasoning_tokens: number;
  cost: string;
  cache_savings: string;
  priced: boolean;
  price_note: string | null;
  gateway_latency_ms: number;
  upstream_latency_ms: number;
  attempts: number;
  outcome: UsageOutcome;
  error_code: string | null;
  fallbacks: string[];
  downgraded: boolean;
}

/**
 * What a reservation keeps to write if its call is abandoned: what is known of the call when it
 * reserves, with the tokens it reserved for, and nothing the reservation holds anyway. The sweeper
 * (tollgate_sweep_holds) makes the record of it, of the reservation (project, key, request, its
 * amount as the cost) and of what every abandoned record says (no cache or reasoning tokens, no
 * latency, no attempt, the price note).
 */
export type AbandonedRow = Pick<
  UsageRow,
  | 'kind'
  | 'model_requested'
  | 'model_served'
  | 'provider'
  | 'route_tier'
  | 'prompt_tokens'
  | 'completion_tokens'
  | 'fallbacks'
>;

export interface ReserveItem {
  op: 'reserve';
  project: string;
  key: string | null;
  request: string | null;
  amount: string;
  ttlMs: number;
  /** What the caller believes applies: "id:limit:period:zone" in id order. */
  signature: string;
  budgets: string[];
  starts: string[];
  limits: string[];
  usage: AbandonedRow;
}

export type ReserveResult =
  | { stale: true }
  | { refused: { budget: string; spent: string; reserved: string }[] }
  | { reservation: string | null };

export interface SettleItem {
  op: 'settle';
  reservation: string | null;
  usage: UsageRow;
  /** A retry of a requestId whose first call died: its ABANDONED placeholders give way. */
  supersede?: boolean;
  /** Completes the requestId's idempotency record in the same transaction. */
  done?: { project: string; request: string; response: Record<string, unknown> } | null;
}

/** A budget counter after a settle changed it (money as text). */
export interface CounterJson {
  budget: string;
  start: string;
  spent: string;
  reserved: string;
  prompt: number;
  completion: number;
  requests: number;
}

export interface RecordRef {
  id: string;
  created_at: string;
}

export type SettleResult =
  { already: true; usage: RecordRef | null } | { usage: RecordRef; counters: CounterJson[] };

export interface ReleaseItem {
  op: 'release';
  reservation: string | null;
  /** The failed attempt's record, when the upstream was reached. */
  usage: UsageRow | null;
}

export interface ReleaseResult {
  released: boolean;
  usage: RecordRef | null;
}

export type LedgerItem = ReserveItem | SettleItem | ReleaseItem;

/** The result each kind of item gets back. */
export interface LedgerResults {
  reserve: ReserveResult;
  settle: SettleResult;
  release: ReleaseResult;
}

export interface SweepResult {
  abandoned: number;
  released: number;
  projects: string[];
}

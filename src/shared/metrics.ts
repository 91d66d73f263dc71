import client from 'prom-client';

/** Prometheus metrics, served at /metrics (server/http.ts); features record on them from here. */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const completionsTotal = new client.Counter({
  name: 'tollgate_completions_total',
  help: 'Completion calls by outcome: SUCCESS, REPLAYED (an idempotent repeat), or the error code answered',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const completionSeconds = new client.Histogram({
  name: 'tollgate_completion_seconds',
  help: 'Gateway latency of successful completions, upstream included',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const graphqlKnownOperationsTotal = new client.Counter({
  name: 'tollgate_graphql_known_operations_total',
  help: 'GraphQL POSTs of a document Apollo had validated before, run straight on graphql-js',
  registers: [registry],
});

export const ledgerBatchSeconds = new client.Histogram({
  name: 'tollgate_ledger_batch_seconds',
  help: 'Database time of each batch of reserves and settles (group commit)',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [registry],
});

export const ledgerBatchItems = new client.Histogram({
  name: 'tollgate_ledger_batch_items',
  help: 'Reserves and settles per batch (group commit)',
  buckets: [1, 2, 5, 10, 20, 50, 100],
  registers: [registry],
});

/**
 * A label whose values come from tenants (model names, budget ids): the first `max` distinct values
 * keep their own series, every later one is counted under "other", so a catalog that grows cannot
 * grow Prometheus' memory without bound.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}

/** Model names as labels: at most 200 series per metric (then "other"). */
export const modelLabel = new BoundedLabel(200);
/** Budget ids as labels: at most 1,000 (then "other"). */
export const budgetLabel = new BoundedLabel(1_000);

export const spendUsdTotal = new client.Counter({
  name: 'tollgate_spend_usd_total',
  help: 'USD charged, by served model and kind (CHAT, EMBEDDING); the ledger holds the exact figures',
  labelNames: ['model', 'kind'] as const,
  registers: [registry],
});

export const tokensTotal = new client.Counter({
  name: 'tollgate_tokens_total',
  help: 'Tokens charged, by served model and class: prompt (all of it), cached_prompt, cache_write (parts of prompt), completion (all of it), reasoning (part of completion)',
  labelNames: ['model', 'class'] as const,
  registers: [registry],
});

/** Each budget's utilization as of its last charge here, by label and period: the gauge reads it when scraped. */
const utilizations = new Map<string, { budget: string; period: string; value: number }>();

// (no handle: nothing sets it but its own collect, from noteBudgetUtilization's figures)
new client.Gauge({
  name: 'tollgate_budget_utilization_ratio',
  help: '(spent + reserved) / limit of each budget in its current window, as of its last charge on this instance',
  labelNames: ['budget', 'period'] as const,
  registers: [registry],
  collect() {
    for (const { budget, period, value } of utilizations.values()) this.set({ budget, period }, value);
  },
});

/**
 * A charge's utilization of its budget. (Kept aside for the scrape: prom-client's gauge sorts its
 * labels on every set, which every settle would pay for every budget it charged.)
 */
export function noteBudgetUtilization(budgetId: string, period: string, value: number): void {
  const budget = budgetLabel.of(budgetId);
  const key = `${budget} ${period}`;
  const known = utilizations.get(key);
  if (known) known.value = value;
  else utilizations.set(key, { budget, period, value });
}

export const upstreamSeconds = new client.Histogram({
  name: 'tollgate_upstream_seconds',
  help: 'Upstream latency of answered calls (retries included), by served model',
  labelNames: ['model'] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [registry],
});

export const addedSeconds = new client.Histogram({
  name: 'tollgate_added_seconds',
  help: "Latency Tollgate adds to an answered call (its latency minus the upstream's), by door: graphql, openai, anthropic",
  labelNames: ['door'] as const,
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
  registers: [registry],
});

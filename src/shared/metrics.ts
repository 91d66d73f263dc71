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

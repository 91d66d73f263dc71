import type { Request, Response } from 'express';
import client from 'prom-client';

/** Prometheus metrics, served at /metrics. */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

export const completionsTotal = new client.Counter({
  name: 'tollgate_completions_total',
  help: 'Completions by outcome',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const completionSeconds = new client.Histogram({
  name: 'tollgate_completion_seconds',
  help: 'Gateway latency of successful completions, upstream included',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export async function metricsHandler(_req: Request, res: Response): Promise<void> {
  res.set('content-type', registry.contentType);
  res.send(await registry.metrics());
}

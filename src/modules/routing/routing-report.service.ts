import type { DataSource } from 'typeorm';
import { BadInputError } from '../../shared/errors';
import { parseUsd, ratio, type Pico } from '../../shared/money';
import type { CatalogService } from '../providers/catalog.service';
import { priceUsage } from '../providers/pricing';
import { sliceParams, sliceRange, usageRowsSql } from '../usage/usage-source';

export interface RouteStats {
  /** "TIER:model" as the reference names routes; explicit calls are "EXPLICIT:model". */
  key: string;
  tier: string;
  model: string;
  /** Successful calls. */
  requests: number;
  /** Calls that reached the upstream and failed (recorded at $0). */
  failures: number;
  /** Successful calls on a model with no price (recorded at $0, left out of the savings). */
  unpricedRequests: number;
  promptTokens: number;
  completionTokens: number;
  /** Of the prompt tokens, read from and written to the provider's cache. */
  cachedPromptTokens: number;
  cacheWriteTokens: number;
  cost: Pico;
  /** What the provider's cache saved on this route against the full prompt price. */
  cacheSavings: Pico;
  costPerRequest: Pico;
  averageLatencyMs: number;
  averageUpstreamLatencyMs: number;
  /** What the priced calls' tokens would have cost on the baseline model. */
  baselineCost: Pico;
  /** baselineCost minus what those calls cost (negative when the route was dearer). */
  savings: Pico;
}

export interface RoutingReport {
  from: Date;
  to: Date;
  baselineModel: string;
  requests: number;
  failures: number;
  unpricedRequests: number;
  cost: Pico;
  cacheSavings: Pico;
  averageCostPerRequest: Pico;
  baselineCost: Pico;
  savings: Pico;
  /** savings / baselineCost (0 when there is no baseline cost). For display only. */
  savingsRatio: number;
  routes: RouteStats[];
}

interface Row {
  tier: string;
  model: string;
  requests: string;
  failures: string;
  unpriced: string;
  prompt_tokens: string;
  completion_tokens: string;
  cached_prompt_tokens: string;
  cache_write_tokens: string;
  cost: string;
  cache_savings: string;
  priced_prompt: string;
  priced_cached: string;
  priced_writes: string;
  priced_completion: string;
  priced_cost: string;
  latency: string;
  upstream_latency: string;
}

/**
 * The routing report: requests and exact cost per tier:model over a range, and the savings
 * against a baseline model priced on the same tokens, class by class (its own cache prices, where
 * it has them). Chat calls only: embeddings are never routed. Read from the ledger (its hourly and
 * daily rollups, and the records of the partial hours at the edges: usage/usage-source.ts), so it
 * covers every instance, survives restarts, and reads as fast over a year as over a day. The
 * rollups keep each token class's sum, so the baseline is priced at its current prices exactly as
 * on the records themselves.
 */
export class RoutingReportService {
  constructor(
    private readonly db: DataSource,
    private readonly catalog: CatalogService,
  ) {}

  async report(projectId: string, from: Date, to: Date, baselineModel: string): Promise<RoutingReport> {
    if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
      throw new BadInputError('from must be before to', 'from');
    }
    const baseline = (await this.catalog.catalog(projectId)).models.get(baselineModel);
    if (!baseline) throw new BadInputError(`Unknown baseline model "${baselineModel}"`, 'baselineModel');
    const rows: Row[] = await this.db.query(
      `SELECT coalesce(route_tier, 'EXPLICIT') AS tier, model_served AS model,
              coalesce(sum(requests) FILTER (WHERE ok), 0) AS requests,
              coalesce(sum(requests) FILTER (WHERE NOT ok), 0) AS failures,
              coalesce(sum(requests) FILTER (WHERE ok AND NOT priced), 0) AS unpriced,
              coalesce(sum(prompt_tokens) FILTER (WHERE ok), 0) AS prompt_tokens,
              coalesce(sum(completion_tokens) FILTER (WHERE ok), 0) AS completion_tokens,
              coalesce(sum(cached_prompt_tokens) FILTER (WHERE ok), 0) AS cached_prompt_tokens,
              coalesce(sum(cache_write_tokens) FILTER (WHERE ok), 0) AS cache_write_tokens,
              coalesce(sum(cost) FILTER (WHERE ok), 0) AS cost,
              coalesce(sum(cache_savings) FILTER (WHERE ok), 0) AS cache_savings,
              coalesce(sum(prompt_tokens) FILTER (WHERE ok AND priced), 0) AS priced_prompt,
              coalesce(sum(cached_prompt_tokens) FILTER (WHERE ok AND priced), 0) AS priced_cached,
              coalesce(sum(cache_write_tokens) FILTER (WHERE ok AND priced), 0) AS priced_writes,
              coalesce(sum(completion_tokens) FILTER (WHERE ok AND priced), 0) AS priced_completion,
              coalesce(sum(cost) FILTER (WHERE ok AND priced), 0) AS priced_cost,
              coalesce(sum(gateway_latency_ms) FILTER (WHERE ok), 0) AS latency,
              coalesce(sum(upstream_latency_ms) FILTER (WHERE ok), 0) AS upstream_latency
         FROM (SELECT *, outcome = 'SUCCESS' AS ok FROM ${usageRowsSql("kind = 'CHAT'")} r) u
        GROUP BY 1, 2 HAVING sum(requests) > 0 ORDER BY 1, 2`,
      [projectId, ...sliceParams(sliceRange(from, to))],
    );
    // The route's priced tokens at the baseline's prices, class by class (a total of whole calls'
    // tokens: priced per million as one sum, exact as each call's cost is).
    const priceOnBaseline = (r: Row): Pico =>
      priceUsage(
        {
          prompt: Number(r.priced_prompt),
          cachedPrompt: Number(r.priced_cached),
          cacheWrite: Number(r.priced_writes),
          completion: Number(r.priced_completion),
          reasoning: 0,
        },
        baseline,
      ).cost;

    const routes = rows.map((r): RouteStats => {
      const requests = Number(r.requests);
      const cost = parseUsd(r.cost);
      const baselineCost = priceOnBaseline(r);
      return {
        key: `${r.tier}:${r.model}`,
        tier: r.tier,
        model: r.model,
        requests,
        failures: Number(r.failures),
        unpricedRequests: Number(r.unpriced),
        promptTokens: Number(r.prompt_tokens),
        completionTokens: Number(r.completion_tokens),
        cachedPromptTokens: Number(r.cached_prompt_tokens),
        cacheWriteTokens: Number(r.cache_write_tokens),
        cost,
        cacheSavings: parseUsd(r.cache_savings),
        costPerRequest: average(cost, requests),
        averageLatencyMs: requests === 0 ? 0 : Number(r.latency) / requests,
        averageUpstreamLatencyMs: requests === 0 ? 0 : Number(r.upstream_latency) / requests,
        baselineCost,
        savings: baselineCost - parseUsd(r.priced_cost),
      };
    });
    const sum = (pick: (r: RouteStats) => Pico) => routes.reduce((t, r) => t + pick(r), 0n);
    const count = (pick: (r: RouteStats) => number) => routes.reduce((t, r) => t + pick(r), 0);
    const requests = count((r) => r.requests);
    const cost = sum((r) => r.cost);
    const baselineCost = sum((r) => r.baselineCost);
    const savings = sum((r) => r.savings);
    return {
      from,
      to,
      baselineModel,
      requests,
      failures: count((r) => r.failures),
      unpricedRequests: count((r) => r.unpricedRequests),
      cost,
      cacheSavings: sum((r) => r.cacheSavings),
      averageCostPerRequest: average(cost, requests),
      baselineCost,
      savings,
      savingsRatio: baselineCost === 0n ? 0 : ratio(savings, baselineCost),
      routes,
    };
  }
}

/** total / n to the nearest pico-dollar (halves away from zero); 0 for no requests. */
export function average(total: Pico, n: number): Pico {
  if (n === 0) return 0n;
  const d = BigInt(n);
  const sign = total < 0n ? -1n : 1n;
  const abs = total * sign;
  return sign * ((abs * 2n + d) / (2n * d));
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * [from, to) cut where the rollups can answer it: from <= hoursFrom <= daysFrom <= daysTo <=
 * hoursTo <= to. Whole UTC days [daysFrom, daysTo) come from the daily rollups, the whole UTC
 * hours around them from the hourly ones, and the partial hours at the edges, [from, hoursFrom)
 * and [hoursTo, to), from the usage records themselves.
 */
export interface UsageSlices {
  from: Date;
  hoursFrom: Date;
  daysFrom: Date;
  daysTo: Date;
  hoursTo: Date;
  to: Date;
}

const ceilTo = (t: number, unit: number) => Math.ceil(t / unit) * unit;
const floorTo = (t: number, unit: number) => Math.floor(t / unit) * unit;

export function sliceRange(from: Date, to: Date): UsageSlices {
  let hoursFrom = ceilTo(from.getTime(), HOUR_MS);
  let hoursTo = floorTo(to.getTime(), HOUR_MS);
  if (hoursFrom >= hoursTo) hoursFrom = hoursTo = to.getTime(); // no whole hour: all from the records
  let daysFrom = ceilTo(hoursFrom, DAY_MS);
  let daysTo = floorTo(hoursTo, DAY_MS);
  if (daysFrom >= daysTo) daysFrom = daysTo = hoursTo; // no whole day: all from hours and records
  return {
    from,
    hoursFrom: new Date(hoursFrom),
    daysFrom: new Date(daysFrom),
    daysTo: new Date(daysTo),
    hoursTo: new Date(hoursTo),
    to,
  };
}

/** The columns every row of usageRowsSql has (`at` is the record's time or the rollup's bucket). */
const GROUPS = 'api_key_id, kind, model_served, route_tier, outcome, priced';
const SUMS =
  'prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens, reasoning_tokens, cost, cache_savings, gateway_latency_ms, upstream_latency_ms';

/**
 * A subquery of the usage of project $1 over the range sliced as sliceParams gives $2 to $7: rows
 * of (at, api_key_id, kind, model_served, route_tier, outcome, priced, requests, prompt_tokens,
 * completion_tokens, cached_prompt_tokens, cache_write_tokens, reasoning_tokens, cost,
 * cache_savings, gateway_latency_ms, upstream_latency_ms) whose sums are exactly the records' in
 * the range: daily and hourly rollups for the whole days and hours, records (one request each) for
 * the partial hours at the edges. So a report reads a few rows per hour and day whatever the size
 * of the ledger. `where` is a further condition on those columns (with parameters from $8). A
 * combination that sums to no request had its records deleted again: leave it out with
 * `HAVING sum(requests) > 0`.
 */
export function usageRowsSql(where = 'true'): string {
  return `(SELECT bucket AS at, ${GROUPS}, requests, ${SUMS} FROM usage_rollups
            WHERE project_id = $1 AND grain = 'day' AND bucket >= $4 AND bucket < $5 AND (${where})
          UNION ALL
          SELECT bucket, ${GROUPS}, requests, ${SUMS} FROM usage_rollups
            WHERE project_id = $1 AND grain = 'hour' AND (${where})
              AND (bucket >= $3 AND bucket < $4 OR bucket >= $5 AND bucket < $6)
          UNION ALL
          SELECT created_at, ${GROUPS}, 1, ${SUMS} FROM usage_records
            WHERE project_id = $1 AND (${where})
              AND (created_at >= $2 AND created_at < $3 OR created_at >= $6 AND created_at < $7))`;
}

/** $2 to $7 of usageRowsSql. */
export function sliceParams(s: UsageSlices): Date[] {
  return [s.from, s.hoursFrom, s.daysFrom, s.daysTo, s.hoursTo, s.to];
}

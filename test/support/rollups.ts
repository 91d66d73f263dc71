import type { DataSource, EntityManager } from 'typeorm';

const COMBINATION = 'project_id, api_key_id, kind, model_served, route_tier, outcome, priced';

/**
 * Where usage_rollups and the usage records disagree, for the given projects: every (grain,
 * bucket, combination) whose rollup rows do not sum to exactly what its records sum to, from
 * either side (an empty list when the rollups are exact). Combinations whose rollup rows sum to no
 * request are the records' that were deleted again, and count as absent.
 */
export async function rollupDrift(db: DataSource | EntityManager, projectIds: string[]): Promise<unknown[]> {
  const sums = (requests: string, prefix = '') =>
    `${requests} AS requests, ${['prompt_tokens', 'completion_tokens', 'cached_prompt_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost', 'cache_savings', 'gateway_latency_ms', 'upstream_latency_ms'].map((c) => `sum(${prefix}${c})::numeric AS ${c}`).join(', ')}`;
  return db.query(
    `WITH raw AS (
       SELECT g.grain, date_trunc(g.grain, r.created_at, 'UTC') AS bucket, ${COMBINATION}, ${sums('count(*)::numeric', 'r.')}
         FROM usage_records r CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain)
        WHERE r.project_id = ANY($1)
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
     ), rolled AS (
       SELECT grain::text, bucket, ${COMBINATION}, ${sums('sum(requests)::numeric')}
         FROM usage_rollups WHERE project_id = ANY($1)
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 HAVING sum(requests) <> 0
     )
     SELECT 'records only' AS side, * FROM (SELECT * FROM raw EXCEPT SELECT * FROM rolled) a
     UNION ALL
     SELECT 'rollups only', * FROM (SELECT * FROM rolled EXCEPT SELECT * FROM raw) b`,
    [projectIds],
  ) as Promise<unknown[]>;
}

/** Rollup rows of the projects, and how many of them are not folded yet. */
export async function rollupRows(
  db: DataSource | EntityManager,
  projectIds: string[],
): Promise<{ rows: number; unfolded: number }> {
  const [row] = (await db.query(
    `SELECT count(*)::int AS rows, count(*) FILTER (WHERE NOT folded)::int AS unfolded
       FROM usage_rollups WHERE project_id = ANY($1)`,
    [projectIds],
  )) as { rows: number; unfolded: number }[];
  return row!;
}

-- Folds usage_rollups: each (project, grain, bucket) cell that gained rows since it was last folded
-- (every statement writing or deleting usage records adds some: tollgate_usage_rollup) is rewritten
-- as one row per combination holding the sum of its rows; a combination whose records were all
-- deleted again sums to nothing and goes. Readers sum whatever rows a cell has, so a fold changes
-- no figure, only how many rows a report reads. Rows added while it runs are left for the next
-- fold. At most p_cells cells; one folder at a time (another returns 0 at once).
-- Returns the number of cells folded.
CREATE OR REPLACE FUNCTION tollgate_fold_rollups(p_cells integer)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  v_cells integer;
BEGIN
  IF NOT pg_try_advisory_xact_lock(7411003) THEN
    RETURN 0;
  END IF;
  WITH cells AS MATERIALIZED (
    SELECT DISTINCT project_id, grain, bucket FROM usage_rollups WHERE NOT folded LIMIT p_cells
  ), gone AS (
    DELETE FROM usage_rollups r USING cells c
     WHERE r.project_id = c.project_id AND r.grain = c.grain AND r.bucket = c.bucket
    RETURNING r.*
  ), folded AS (
    INSERT INTO usage_rollups (grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced,
                               requests, prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens,
                               reasoning_tokens, cost, cache_savings, gateway_latency_ms, upstream_latency_ms, folded)
    SELECT grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced,
           sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(cached_prompt_tokens), sum(cache_write_tokens),
           sum(reasoning_tokens), sum(cost), sum(cache_savings), sum(gateway_latency_ms), sum(upstream_latency_ms), true
      FROM gone
     GROUP BY grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced
    -- every record counts one request, so no requests left means every figure is back to zero
    HAVING sum(requests) <> 0
  )
  SELECT count(*) INTO v_cells FROM cells;
  RETURN v_cells;
END
$fn$;

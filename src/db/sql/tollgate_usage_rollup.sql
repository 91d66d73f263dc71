-- Keeps usage_rollups exact: every statement that writes, deletes or changes usage records adds,
-- in its own transaction, one row per (grain, bucket, project, key, kind, model, tier, outcome,
-- priced) it touched with what it added (or, negated, what it took away), for the record's UTC
-- hour and UTC day. Statement-level, from the transition tables: a settle adds two rows, a bulk
-- insert adds its sums. A cell's figures are the sum of its rows, however many; the sweeper folds
-- them into one row each (tollgate_fold_rollups). Dropping a partition or moving records between
-- partitions by name fires nothing, so retention leaves the sums as they were.
-- The migration UsageRollups made the first version of this file (and its triggers).
CREATE OR REPLACE FUNCTION tollgate_usage_rollup()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_rollups (grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced,
                               requests, prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens,
                               reasoning_tokens, cost, cache_savings, gateway_latency_ms, upstream_latency_ms)
    SELECT g.grain, date_trunc(g.grain, r.created_at, 'UTC'), r.project_id, r.api_key_id, r.kind, r.model_served,
           r.route_tier, r.outcome, r.priced, count(*), sum(r.prompt_tokens), sum(r.completion_tokens),
           sum(r.cached_prompt_tokens), sum(r.cache_write_tokens), sum(r.reasoning_tokens), sum(r.cost),
           sum(r.cache_savings), sum(r.gateway_latency_ms), sum(r.upstream_latency_ms)
      FROM added r CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain)
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_rollups (grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced,
                               requests, prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens,
                               reasoning_tokens, cost, cache_savings, gateway_latency_ms, upstream_latency_ms)
    SELECT g.grain, date_trunc(g.grain, r.created_at, 'UTC'), r.project_id, r.api_key_id, r.kind, r.model_served,
           r.route_tier, r.outcome, r.priced, -count(*), -sum(r.prompt_tokens), -sum(r.completion_tokens),
           -sum(r.cached_prompt_tokens), -sum(r.cache_write_tokens), -sum(r.reasoning_tokens), -sum(r.cost),
           -sum(r.cache_savings), -sum(r.gateway_latency_ms), -sum(r.upstream_latency_ms)
      FROM removed r CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain)
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
  END IF;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE TRIGGER usage_records_rollup_insert AFTER INSERT ON usage_records
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollup();
CREATE OR REPLACE TRIGGER usage_records_rollup_delete AFTER DELETE ON usage_records
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollup();
CREATE OR REPLACE TRIGGER usage_records_rollup_update AFTER UPDATE ON usage_records
  REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollup();

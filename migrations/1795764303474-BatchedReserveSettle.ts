import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Group commit for the hot path: many calls' settles and reservations in one statement, one
 * transaction and one WAL flush. Each item still goes through tollgate_settle / tollgate_reserve,
 * one after the other (settles first, so what they free is free for the reserves), so a batch
 * decides exactly what the same calls made one by one in that order would have decided. Before the
 * first item runs, a batch locks everything its items will lock, in the order the single functions
 * use (reservations by id, then counters by budget id and window), so batches, single calls and the
 * sweeper cannot deadlock one another. Each lock is a primary-key lookup: a plan cached while the
 * tables were small must not scan them once they have grown.
 * Written by hand: the TypeORM CLI generates tables from entities, not functions.
 */
export class BatchedReserveSettle1795764303474 implements MigrationInterface {
  name = 'BatchedReserveSettle1795764303474';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // A usage record from its JSON form (usageJson) and the figures that travel beside it.
    await queryRunner.query(`
CREATE FUNCTION tollgate_insert_usage(p_usage jsonb, p_cost numeric, p_prompt bigint, p_completion bigint)
RETURNS TABLE (id uuid, created_at timestamptz)
LANGUAGE sql AS $fn$
  INSERT INTO usage_records (project_id, api_key_id, request_id, model_requested, model_served, provider, route_tier,
      prompt_tokens, completion_tokens, total_tokens, cost, priced, gateway_latency_ms, upstream_latency_ms, attempts,
      outcome, error_code, fallbacks, downgraded)
  VALUES ((p_usage->>'projectId')::uuid, (p_usage->>'apiKeyId')::uuid, p_usage->>'requestId', p_usage->>'modelRequested',
      p_usage->>'modelServed', p_usage->>'provider', p_usage->>'routeTier', p_prompt, p_completion, p_prompt + p_completion,
      p_cost, (p_usage->>'priced')::boolean, (p_usage->>'gatewayLatencyMs')::integer,
      (p_usage->>'upstreamLatencyMs')::integer, (p_usage->>'attempts')::integer, p_usage->>'outcome',
      p_usage->>'errorCode', p_usage->'fallbacks', (p_usage->>'downgraded')::boolean)
  RETURNING id, created_at
$fn$`);

    // p_items, each either
    //   {op: 'settle', reservation (null when no budget applied: only the usage record), cost, prompt,
    //    completion, requests, usage}, or
    //   {op: 'reserve', project, key, request, amount, ttlMs, signature, budgets: [uuid], starts: [iso], limits}.
    // Returns each item's rows (tollgate_settle's or tollgate_reserve's columns), tagged with its index from 0.
    await queryRunner.query(`
CREATE FUNCTION tollgate_ledger_batch(p_items jsonb)
RETURNS TABLE (item integer, reservation_id uuid, stale boolean, refused_budget uuid, already boolean, usage_id uuid,
               usage_created_at timestamptz, budget_id uuid, period_start timestamptz, spent numeric, reserved numeric,
               prompt_tokens bigint, completion_tokens bigint, requests integer)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_id uuid;
  v_status varchar;
  v_holds jsonb;
  v_budgets uuid[] := '{}';
  v_starts timestamptz[] := '{}';
  v_budget uuid;
  v_start timestamptz;
  v_item jsonb;
  v_index bigint;
BEGIN
  -- A lone call locks what it needs itself, in the same order: nothing to take up front.
  IF jsonb_array_length(p_items) > 1 THEN
    -- The reservations the settles close, by id; what they still hold names counters to lock.
    FOR v_id IN
      SELECT DISTINCT (x.j->>'reservation')::uuid FROM jsonb_array_elements(p_items) AS x(j)
       WHERE x.j->>'op' = 'settle' AND x.j->>'reservation' IS NOT NULL ORDER BY 1
    LOOP
      SELECT r.status, r.holds INTO v_status, v_holds FROM reservations r WHERE r.id = v_id FOR UPDATE;
      IF v_status IS DISTINCT FROM 'SETTLED' THEN
        v_budgets := v_budgets || ARRAY(SELECT (h.v->>'budgetId')::uuid FROM jsonb_array_elements(v_holds) AS h(v));
        v_starts := v_starts || ARRAY(SELECT (h.v->>'periodStart')::timestamptz FROM jsonb_array_elements(v_holds) AS h(v));
      END IF;
    END LOOP;
    -- The counters the reserves take from (a new window's counter is created here).
    SELECT v_budgets || coalesce(array_agg(w.b::uuid), '{}'), v_starts || coalesce(array_agg(w.s::timestamptz), '{}')
      INTO v_budgets, v_starts
      FROM jsonb_array_elements(p_items) AS x(j),
           ROWS FROM (jsonb_array_elements_text(x.j->'budgets'), jsonb_array_elements_text(x.j->'starts')) AS w(b, s)
     WHERE x.j->>'op' = 'reserve';
    FOR v_budget, v_start IN SELECT DISTINCT w.b, w.s FROM unnest(v_budgets, v_starts) AS w(b, s) ORDER BY 1, 2 LOOP
      INSERT INTO budget_counters (budget_id, period_start)
        SELECT v_budget, v_start WHERE EXISTS (SELECT 1 FROM budgets b WHERE b.id = v_budget)
        ON CONFLICT DO NOTHING;
      PERFORM 1 FROM budget_counters c WHERE c.budget_id = v_budget AND c.period_start = v_start FOR UPDATE;
    END LOOP;
  END IF;
  FOR v_item, v_index IN
    SELECT x.j, x.n - 1 FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n)
     ORDER BY x.j->>'op' = 'reserve', x.n
  LOOP
    IF v_item->>'op' = 'reserve' THEN
      RETURN QUERY SELECT v_index::integer, r.reservation_id, r.stale, r.refused_budget, NULL::boolean, NULL::uuid,
                          NULL::timestamptz, NULL::uuid, NULL::timestamptz, r.spent, r.reserved, NULL::bigint,
                          NULL::bigint, NULL::integer
        FROM tollgate_reserve(
          (v_item->>'project')::uuid, (v_item->>'key')::uuid, v_item->>'request', (v_item->>'amount')::numeric,
          (v_item->>'ttlMs')::integer, v_item->>'signature',
          ARRAY(SELECT jsonb_array_elements_text(v_item->'budgets'))::uuid[],
          ARRAY(SELECT jsonb_array_elements_text(v_item->'starts'))::timestamptz[],
          ARRAY(SELECT jsonb_array_elements_text(v_item->'limits'))::numeric[]) AS r;
    ELSIF v_item->>'reservation' IS NULL THEN
      RETURN QUERY SELECT v_index::integer, NULL::uuid, NULL::boolean, NULL::uuid, false, u.id, u.created_at, NULL::uuid,
                          NULL::timestamptz, NULL::numeric, NULL::numeric, NULL::bigint, NULL::bigint, NULL::integer
        FROM tollgate_insert_usage(v_item->'usage', (v_item->>'cost')::numeric, (v_item->>'prompt')::bigint,
                                   (v_item->>'completion')::bigint) AS u;
    ELSE
      RETURN QUERY SELECT v_index::integer, NULL::uuid, NULL::boolean, NULL::uuid, s.already, s.usage_id,
                          s.usage_created_at, s.budget_id, s.period_start, s.spent, s.reserved, s.prompt_tokens,
                          s.completion_tokens, s.requests
        FROM tollgate_settle((v_item->>'reservation')::uuid, (v_item->>'cost')::numeric, (v_item->>'prompt')::bigint,
                             (v_item->>'completion')::bigint, (v_item->>'requests')::integer, v_item->'usage') AS s;
    END IF;
  END LOOP;
END
$fn$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION tollgate_ledger_batch(jsonb)');
    await queryRunner.query('DROP FUNCTION tollgate_insert_usage(jsonb, numeric, bigint, bigint)');
  }
}

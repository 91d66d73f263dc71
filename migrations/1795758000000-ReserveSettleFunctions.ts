import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The hot path's two budget steps as database functions, so each is one round trip and the
 * counter rows stay locked only while the function runs (not across client round trips).
 * Written by hand: the TypeORM CLI generates tables from entities, not functions.
 */
export class ReserveSettleFunctions1795758000000 implements MigrationInterface {
  name = 'ReserveSettleFunctions1795758000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Reserve `p_amount` on every budget in p_budgets (their windows p_starts, limits p_limits), all
    // or none. p_signature is what the caller believes applies ("id:limit:period:zone" in id order);
    // when the database disagrees (a budget added, changed or removed since the caller cached them)
    // nothing is done and `stale` comes back, so the caller reloads and tries again.
    await queryRunner.query(`
CREATE FUNCTION tollgate_reserve(
  p_project uuid, p_key uuid, p_request varchar, p_amount numeric, p_ttl_ms integer,
  p_signature text, p_budgets uuid[], p_starts timestamptz[], p_limits numeric[]
) RETURNS TABLE (reservation_id uuid, stale boolean, refused_budget uuid, spent numeric, reserved numeric)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_signature text;
  v_row record;
  v_refused boolean := false;
BEGIN
  SELECT coalesce(string_agg(b.id::text || ':' || b.limit_usd::text || ':' || b.period || ':' || b.time_zone, ',' ORDER BY b.id), '')
    INTO v_signature
    FROM budgets b WHERE b.project_id = p_project AND (b.api_key_id IS NULL OR b.api_key_id = p_key);
  IF v_signature IS DISTINCT FROM p_signature THEN
    RETURN QUERY SELECT NULL::uuid, true, NULL::uuid, NULL::numeric, NULL::numeric;
    RETURN;
  END IF;
  IF cardinality(p_budgets) = 0 THEN
    RETURN;
  END IF;
  INSERT INTO budget_counters (budget_id, period_start)
    SELECT * FROM unnest(p_budgets, p_starts) ON CONFLICT DO NOTHING;
  -- Lock every counter in budget id order (the same order everywhere: no deadlocks), check all, then
  -- either refuse with nothing changed or take the amount on all of them.
  FOR v_row IN
    SELECT c.budget_id, c.spent, c.reserved, w.lim
      FROM budget_counters c
      JOIN unnest(p_budgets, p_starts, p_limits) AS w(budget_id, period_start, lim)
        ON c.budget_id = w.budget_id AND c.period_start = w.period_start
     ORDER BY c.budget_id
       FOR UPDATE OF c
  LOOP
    IF v_row.spent + v_row.reserved + p_amount > v_row.lim THEN
      v_refused := true;
      RETURN QUERY SELECT NULL::uuid, false, v_row.budget_id, v_row.spent, v_row.reserved;
    END IF;
  END LOOP;
  IF v_refused THEN
    RETURN;
  END IF;
  UPDATE budget_counters c SET reserved = c.reserved + p_amount, updated_at = now()
    FROM unnest(p_budgets, p_starts) AS w(budget_id, period_start)
   WHERE c.budget_id = w.budget_id AND c.period_start = w.period_start;
  RETURN QUERY
    INSERT INTO reservations (project_id, api_key_id, request_id, amount, holds, expires_at)
    SELECT p_project, p_key, p_request, p_amount,
           (SELECT jsonb_agg(jsonb_build_object('budgetId', w.b, 'periodStart', w.s, 'amount', p_amount::text) ORDER BY w.b)
              FROM unnest(p_budgets, p_starts) AS w(b, s)),
           now() + p_ttl_ms * interval '1 millisecond'
    RETURNING reservations.id, false, NULL::uuid, NULL::numeric, NULL::numeric;
END
$fn$`);

    // Settle a reservation: mark it SETTLED, write the call's usage record (p_usage, when given), and
    // move the hold to spend on each counter it held, all in one step. A reservation the sweeper
    // released meanwhile is still charged (the call happened), with nothing left to unhold. Returns
    // the counters after the change (and the usage record's id); `already` is true, and nothing
    // changes, when it was settled before.
    await queryRunner.query(`
CREATE FUNCTION tollgate_settle(
  p_reservation uuid, p_cost numeric, p_prompt bigint, p_completion bigint, p_requests integer, p_usage jsonb
) RETURNS TABLE (already boolean, usage_id uuid, usage_created_at timestamptz, budget_id uuid, period_start timestamptz,
                 spent numeric, reserved numeric, prompt_tokens bigint, completion_tokens bigint, requests integer)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_status varchar;
  v_holds jsonb;
  v_amount numeric;
  v_usage_id uuid;
  v_usage_at timestamptz;
BEGIN
  SELECT r.status, r.holds, r.amount INTO v_status, v_holds, v_amount
    FROM reservations r WHERE r.id = p_reservation FOR UPDATE;
  IF v_status IS NULL OR v_status = 'SETTLED' THEN
    RETURN QUERY SELECT true, NULL::uuid, NULL::timestamptz, NULL::uuid, NULL::timestamptz, NULL::numeric, NULL::numeric,
                        NULL::bigint, NULL::bigint, NULL::integer;
    RETURN;
  END IF;
  UPDATE reservations SET status = 'SETTLED', closed_at = now() WHERE id = p_reservation;
  IF p_usage IS NOT NULL THEN
    INSERT INTO usage_records (project_id, api_key_id, request_id, model_requested, model_served, provider, route_tier,
        prompt_tokens, completion_tokens, total_tokens, cost, priced, gateway_latency_ms, upstream_latency_ms, attempts,
        outcome, error_code, fallbacks, downgraded)
    VALUES ((p_usage->>'projectId')::uuid, (p_usage->>'apiKeyId')::uuid, p_usage->>'requestId', p_usage->>'modelRequested',
        p_usage->>'modelServed', p_usage->>'provider', p_usage->>'routeTier', p_prompt, p_completion, p_prompt + p_completion,
        p_cost, (p_usage->>'priced')::boolean, (p_usage->>'gatewayLatencyMs')::integer,
        (p_usage->>'upstreamLatencyMs')::integer, (p_usage->>'attempts')::integer, p_usage->>'outcome',
        p_usage->>'errorCode', p_usage->'fallbacks', (p_usage->>'downgraded')::boolean)
    RETURNING usage_records.id, usage_records.created_at INTO v_usage_id, v_usage_at;
  END IF;
  -- Take the counter locks in budget id order, as reserve does, before changing them.
  PERFORM 1 FROM budget_counters c
    JOIN jsonb_array_elements(v_holds) AS h
      ON c.budget_id = (h->>'budgetId')::uuid AND c.period_start = (h->>'periodStart')::timestamptz
   ORDER BY c.budget_id FOR UPDATE OF c;
  RETURN QUERY
    WITH held AS (
      SELECT (h->>'budgetId')::uuid AS b, (h->>'periodStart')::timestamptz AS s
        FROM jsonb_array_elements(v_holds) AS h
    ), changed AS (
      UPDATE budget_counters c
         SET reserved = c.reserved - CASE WHEN v_status = 'ACTIVE' THEN v_amount ELSE 0 END,
             spent = c.spent + p_cost,
             prompt_tokens = c.prompt_tokens + p_prompt,
             completion_tokens = c.completion_tokens + p_completion,
             requests = c.requests + p_requests,
             updated_at = now()
        FROM held
       WHERE c.budget_id = held.b AND c.period_start = held.s
      RETURNING c.budget_id, c.period_start, c.spent, c.reserved, c.prompt_tokens, c.completion_tokens, c.requests
    )
    SELECT false, v_usage_id, v_usage_at, ch.budget_id, ch.period_start, ch.spent, ch.reserved, ch.prompt_tokens,
           ch.completion_tokens, ch.requests
      FROM changed ch ORDER BY ch.budget_id;
  IF NOT FOUND THEN
    -- every budget it held was deleted meanwhile: still report the usage record
    RETURN QUERY SELECT false, v_usage_id, v_usage_at, NULL::uuid, NULL::timestamptz, NULL::numeric, NULL::numeric,
                        NULL::bigint, NULL::bigint, NULL::integer;
  END IF;
END
$fn$`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION tollgate_settle(uuid, numeric, bigint, bigint, integer, jsonb)');
    await queryRunner.query(
      'DROP FUNCTION tollgate_reserve(uuid, uuid, varchar, numeric, integer, text, uuid[], timestamptz[], numeric[])',
    );
  }
}

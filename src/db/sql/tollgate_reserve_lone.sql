-- A lone reserve's short path (tollgate_ledger_batch takes it for a batch of one reserve: a call at
-- low load, where the batch's general steps cost more than the work): what tollgate_reserve_many
-- decides for one item, in four statements: the counters there are, locked, read with what applies,
-- written. Answers NULL, having changed and locked nothing, when a counter of the item's windows
-- does not exist yet (the first call of a window): the general path makes it, in the lock order
-- every ledger function keeps.
-- p: a reserve item (see tollgate_reserve). Returns what tollgate_reserve returns.
CREATE OR REPLACE FUNCTION tollgate_reserve_lone(p jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- (It runs inside tollgate_ledger_batch, under its settings: generic plans, no whole-table scans.)
AS $fn$
DECLARE
  -- The item's lists of uuids, times and decimals as SQL arrays: a JSON array of such strings,
  -- '["a", "b"]', is their array literal with other brackets, '{"a", "b"}' (no subquery needed).
  v_budgets uuid[] := translate(p->>'budgets', '[]', '{}')::uuid[];
  v_starts timestamptz[] := translate(p->>'starts', '[]', '{}')::timestamptz[];
  v_limits numeric[] := translate(p->>'limits', '[]', '{}')::numeric[];
  v_amount numeric := (p->>'amount')::numeric;
  v_signature text;
  v_present integer;
  v_refused jsonb;
  v_id uuid := gen_random_uuid();
BEGIN
  IF cardinality(v_budgets) > 0 THEN
    -- the counters of the item's windows, read without a lock: a missing one is declined untouched
    SELECT count(*) INTO v_present FROM budget_counters c
     WHERE (c.budget_id, c.period_start) IN (SELECT * FROM unnest(v_budgets, v_starts));
    IF v_present < cardinality(v_budgets) THEN
      RETURN NULL;
    END IF;
    PERFORM 1 FROM budget_counters c
      WHERE (c.budget_id, c.period_start) IN (SELECT * FROM unnest(v_budgets, v_starts))
      ORDER BY c.budget_id, c.period_start
        FOR UPDATE;
  END IF;
  -- Then, under those locks and in a statement of its own (so with a snapshot taken after any wait
  -- for them, as in tollgate_reserve_many): what applies to the project and key, which a change
  -- committed during the wait makes stale, and the counters the amount does not fit (one whose
  -- budget was deleted meanwhile holds nothing).
  SELECT tollgate_budget_signature((p->>'project')::uuid, (p->>'key')::uuid),
         (SELECT coalesce(jsonb_agg(jsonb_build_object('budget', c.budget_id, 'spent', c.spent::text, 'reserved', c.reserved::text)
                                    ORDER BY c.budget_id, c.period_start)
                            FILTER (WHERE c.spent + c.reserved + v_amount > w.lim), '[]'::jsonb)
            FROM budget_counters c
            JOIN unnest(v_budgets, v_starts, v_limits) AS w(b, s, lim) ON w.b = c.budget_id AND w.s = c.period_start)
    INTO v_signature, v_refused;
  IF v_signature IS DISTINCT FROM p->>'signature' THEN
    RETURN '{"stale": true}'::jsonb;
  END IF;
  IF cardinality(v_budgets) = 0 THEN
    RETURN '{"reservation": null}'::jsonb;
  END IF;
  IF jsonb_array_length(v_refused) > 0 THEN
    RETURN jsonb_build_object('refused', v_refused);
  END IF;
  WITH held AS (
    UPDATE budget_counters c SET reserved = c.reserved + v_amount, updated_at = now()
     WHERE (c.budget_id, c.period_start) IN (SELECT * FROM unnest(v_budgets, v_starts))
  )
  INSERT INTO reservations (id, project_id, api_key_id, request_id, amount, holds, usage, expires_at)
  VALUES (v_id, (p->>'project')::uuid, (p->>'key')::uuid, p->>'request', v_amount,
          (SELECT jsonb_agg(jsonb_build_object('budgetId', w.b, 'periodStart', w.s, 'amount', v_amount::text)
                            ORDER BY w.b, w.s)
             FROM unnest(v_budgets, v_starts) AS w(b, s)),
          p->'usage', now() + (p->>'ttlMs')::integer * interval '1 millisecond');
  RETURN jsonb_build_object('reservation', v_id);
END
$fn$;

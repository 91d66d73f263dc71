-- Holds `amount` on every budget in `budgets` (windows `starts`, limits `limits`), all or none.
-- p: {project, key, request, amount, ttlMs, signature, budgets: [uuid], starts: [iso], limits: [text],
--     usage: the usage record to write if the hold is ever abandoned (see tollgate_sweep_holds)}.
-- `signature` is what the caller believes applies ("id:limit:period:zone" in id order); when the
-- database disagrees (a budget added, changed or removed since the caller cached them) nothing is
-- done and {"stale": true} comes back, so the caller reloads and tries again.
-- Returns {"reservation": id} (null when no budget applies), or {"refused": [{budget, spent,
-- reserved}]} naming every budget the amount does not fit, with nothing held.
CREATE OR REPLACE FUNCTION tollgate_reserve(p jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
  v_budgets uuid[] := ARRAY(SELECT jsonb_array_elements_text(p->'budgets'))::uuid[];
  v_starts timestamptz[] := ARRAY(SELECT jsonb_array_elements_text(p->'starts'))::timestamptz[];
  v_limits numeric[] := ARRAY(SELECT jsonb_array_elements_text(p->'limits'))::numeric[];
  v_amount numeric := (p->>'amount')::numeric;
  v_signature text;
  v_refused jsonb := '[]'::jsonb;
  v_row record;
  v_id uuid;
BEGIN
  SELECT coalesce(string_agg(b.id::text || ':' || b.limit_usd::text || ':' || b.period || ':' || b.time_zone, ',' ORDER BY b.id), '')
    INTO v_signature
    FROM budgets b
   WHERE b.project_id = (p->>'project')::uuid AND (b.api_key_id IS NULL OR b.api_key_id = (p->>'key')::uuid);
  IF v_signature IS DISTINCT FROM p->>'signature' THEN
    RETURN '{"stale": true}'::jsonb;
  END IF;
  IF cardinality(v_budgets) = 0 THEN
    RETURN '{"reservation": null}'::jsonb;
  END IF;
  INSERT INTO budget_counters (budget_id, period_start)
    SELECT * FROM unnest(v_budgets, v_starts) ON CONFLICT DO NOTHING;
  -- Lock every counter in the one order, check all, then refuse with nothing changed or hold on all.
  FOR v_row IN
    SELECT c.budget_id, c.spent, c.reserved, w.lim
      FROM budget_counters c
      JOIN unnest(v_budgets, v_starts, v_limits) AS w(budget_id, period_start, lim)
        ON c.budget_id = w.budget_id AND c.period_start = w.period_start
     ORDER BY c.budget_id, c.period_start
       FOR UPDATE OF c
  LOOP
    IF v_row.spent + v_row.reserved + v_amount > v_row.lim THEN
      v_refused := v_refused || jsonb_build_object('budget', v_row.budget_id, 'spent', v_row.spent::text,
                                                   'reserved', v_row.reserved::text);
    END IF;
  END LOOP;
  IF jsonb_array_length(v_refused) > 0 THEN
    RETURN jsonb_build_object('refused', v_refused);
  END IF;
  UPDATE budget_counters c SET reserved = c.reserved + v_amount, updated_at = now()
    FROM unnest(v_budgets, v_starts) AS w(budget_id, period_start)
   WHERE c.budget_id = w.budget_id AND c.period_start = w.period_start;
  INSERT INTO reservations (project_id, api_key_id, request_id, amount, holds, usage, expires_at)
  VALUES ((p->>'project')::uuid, (p->>'key')::uuid, p->>'request', v_amount,
          (SELECT jsonb_agg(jsonb_build_object('budgetId', w.b, 'periodStart', w.s, 'amount', v_amount::text) ORDER BY w.b, w.s)
             FROM unnest(v_budgets, v_starts) AS w(b, s)),
          p->'usage', now() + (p->>'ttlMs')::integer * interval '1 millisecond')
  RETURNING id INTO v_id;
  RETURN jsonb_build_object('reservation', v_id);
END
$fn$;

-- Group commit: many calls' settles, releases and reserves in one statement, one transaction and
-- one WAL flush. Settles and releases go first (so what they free is free for the reserves), then
-- the reserves in item order, so a batch decides exactly what the same calls made one by one in
-- that order would have decided. Each settle reports the counters as they stood after it in the
-- order the batch ran it (below: the common settles first).
-- Before the first item runs, a batch locks everything its items will lock, in the order
-- the single functions use (reservations by id, then counters by budget and window), so batches,
-- single calls and the sweeper cannot deadlock one another. Each lock is a primary-key lookup.
-- Then the settles of the common case (an ACTIVE reservation, nothing superseded, no idempotency
-- record) go first, all together and set-based (tollgate_settle_many); the other settles and
-- releases one by one; then the reserves, in item order, together (tollgate_reserve_many).
-- p_items: [{op: 'settle' | 'release' | 'reserve', ...the function's argument}].
-- Returns the items' results, in item order.
CREATE OR REPLACE FUNCTION tollgate_ledger_batch(p_items jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- Every row it and the functions it calls touch is found by its key: their statements are planned
-- once per connection (generic plans: a custom plan per call costs more than a batch of one runs)
-- and never as whole-table scans, which statistics taken while a table was small make look cheap.
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
  v_results jsonb;
  v_item jsonb;
  v_index integer;
  v_holds jsonb := '[]'::jsonb;
  v_id uuid;
  v_status varchar;
  v_held jsonb;
  v_counter record;
  v_active uuid[] := '{}';
  v_plain jsonb := '[]'::jsonb;
  v_plain_index integer[] := '{}';
  v_places integer[] := '{}';
  v_placed jsonb := '[]'::jsonb;
  v_reserves jsonb;
  v_reserve_index integer[];
  v_together boolean;
BEGIN
  SELECT coalesce(jsonb_agg(NULL::jsonb), '[]'::jsonb) INTO v_results FROM jsonb_array_elements(p_items);
  -- A lone settle that supersedes (run alone: see Ledger.alone) locks rows no item names, so it
  -- takes nothing up front and goes through tollgate_settle, which locks in the same order.
  v_together := jsonb_array_length(p_items) > 1 OR NOT coalesce((p_items->0->>'supersede')::boolean, false);
  IF v_together THEN
    FOR v_id IN
      SELECT DISTINCT (x->>'reservation')::uuid FROM jsonb_array_elements(p_items) AS x
       WHERE x->>'op' IN ('settle', 'release') AND x->>'reservation' IS NOT NULL ORDER BY 1
    LOOP
      SELECT r.status, r.holds INTO v_status, v_held FROM reservations r WHERE r.id = v_id FOR UPDATE;
      IF v_status = 'ACTIVE' THEN
        v_active := v_active || v_id;
      END IF;
      IF v_status IS DISTINCT FROM 'SETTLED' AND v_held IS NOT NULL THEN
        v_holds := v_holds || v_held;
      END IF;
    END LOOP;
    -- (a reserve's counters are made if missing; the others exist or their budget is gone, and are
    -- only locked: making one for a budget being deleted would fail its settle)
    SELECT v_holds || coalesce(jsonb_agg(jsonb_build_object('budgetId', w.b, 'periodStart', w.s, 'make', true)), '[]'::jsonb)
      INTO v_holds
      FROM jsonb_array_elements(p_items) AS x,
           ROWS FROM (jsonb_array_elements_text(x->'budgets'), jsonb_array_elements_text(x->'starts')) AS w(b, s)
     WHERE x->>'op' = 'reserve';
    FOR v_counter IN
      SELECT (h->>'budgetId')::uuid AS b, (h->>'periodStart')::timestamptz AS s, bool_or(h ? 'make') AS make
        FROM jsonb_array_elements(v_holds) AS h GROUP BY 1, 2 ORDER BY 1, 2
    LOOP
      IF v_counter.make THEN
        INSERT INTO budget_counters (budget_id, period_start)
          SELECT v_counter.b, v_counter.s WHERE EXISTS (SELECT 1 FROM budgets b WHERE b.id = v_counter.b)
          ON CONFLICT DO NOTHING;
      END IF;
      PERFORM 1 FROM budget_counters c WHERE c.budget_id = v_counter.b AND c.period_start = v_counter.s FOR UPDATE;
    END LOOP;
    WITH x AS (
      SELECT e.j, (e.n - 1)::integer AS i, (e.j->>'reservation')::uuid AS rid
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    ), once AS (
      SELECT rid FROM x WHERE rid IS NOT NULL GROUP BY rid HAVING count(*) = 1
    )
    SELECT coalesce(jsonb_agg(x.j ORDER BY x.i), '[]'::jsonb), coalesce(array_agg(x.i ORDER BY x.i), '{}')
      INTO v_plain, v_plain_index
      FROM x
     WHERE x.j->>'op' = 'settle' AND x.rid = ANY(v_active) AND x.rid IN (SELECT rid FROM once)
       AND NOT coalesce((x.j->>'supersede')::boolean, false) AND jsonb_typeof(x.j->'done') IS DISTINCT FROM 'object';
    IF cardinality(v_plain_index) > 0 THEN
      v_places := v_plain_index;
      v_placed := tollgate_settle_many(v_plain);
    END IF;
  END IF;
  FOR v_item, v_index IN
    SELECT x.j, (x.n - 1)::integer FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n)
     ORDER BY x.n
  LOOP
    CONTINUE WHEN v_index = ANY(v_plain_index);
    -- the reserves go together, below
    CONTINUE WHEN v_item->>'op' = 'reserve';
    IF v_item->>'op' IS NULL OR v_item->>'op' NOT IN ('settle', 'release') THEN
      RAISE EXCEPTION 'ledger item % has no known op: %', v_index, v_item->>'op';
    END IF;
    v_results := jsonb_set(v_results, ARRAY[v_index::text],
      CASE v_item->>'op'
        WHEN 'settle' THEN tollgate_settle(v_item)
        WHEN 'release' THEN tollgate_release(v_item)
      END);
  END LOOP;
  IF v_together THEN -- (a lone settle that supersedes is no reserve)
    SELECT jsonb_agg(x.j ORDER BY x.n), array_agg((x.n - 1)::integer ORDER BY x.n)
      INTO v_reserves, v_reserve_index
      FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n)
     WHERE x.j->>'op' = 'reserve';
    IF v_reserves IS NOT NULL THEN
      v_places := v_places || v_reserve_index;
      v_placed := v_placed || tollgate_reserve_many(v_reserves);
    END IF;
  END IF;
  -- the results of the items that went together, each in its item's place
  FOR v_index IN 1 .. cardinality(v_places) LOOP
    v_results := jsonb_set(v_results, ARRAY[v_places[v_index]::text], v_placed->(v_index - 1));
  END LOOP;
  RETURN v_results;
END
$fn$;

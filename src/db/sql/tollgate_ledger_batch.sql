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
-- A batch of one reserve or one common settle (a call at low load, where these general steps would
-- cost more than the item's own work) takes a short path: tollgate_reserve_lone or
-- tollgate_settle_lone, which answer NULL, having changed nothing, for an item they do not take
-- (having locked nothing either, or only the settle's own reservation, which is the general path's
-- first lock).
-- p_items: [{op: 'settle' | 'release' | 'reserve', ...the function's argument}].
-- Returns the items' results, in item order.
CREATE OR REPLACE FUNCTION tollgate_ledger_batch(p_items jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- Every row it and the functions it calls touch is found by its key: their statements are planned
-- once per connection (generic plans: a custom plan per call costs more than a batch of one runs)
-- and never as whole-table scans, which statistics taken while a table was small make look cheap.
-- No JIT: a scan that cannot be avoided is costed as disabled (10^10), far past jit_above_cost, and
-- compiling it took 200 to 400 ms of a superseding settle that runs in a quarter of a millisecond.
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $fn$
DECLARE
  v_results jsonb;
  v_item jsonb;
  v_index integer;
  v_holds jsonb := '[]'::jsonb;
  v_counter record;
  v_active uuid[] := '{}';
  v_plain jsonb;
  v_plain_index integer[] := '{}';
  v_reserves jsonb;
  v_reserve_index integer[];
  -- the results so far, each with its item's place
  v_places integer[] := '{}';
  v_placed jsonb := '[]'::jsonb;
  v_together boolean;
  v_lone jsonb;
BEGIN
  IF jsonb_array_length(p_items) = 1 THEN
    v_lone := CASE p_items->0->>'op'
                WHEN 'reserve' THEN tollgate_reserve_lone(p_items->0)
                WHEN 'settle' THEN tollgate_settle_lone(p_items->0)
              END;
    IF v_lone IS NOT NULL THEN
      RETURN jsonb_build_array(v_lone);
    END IF;
  END IF;
  -- A lone settle that supersedes (run alone: see Ledger.alone) locks rows no item names, so it
  -- takes nothing up front and goes through tollgate_settle, which locks in the same order.
  v_together := jsonb_array_length(p_items) > 1 OR NOT coalesce((p_items->0->>'supersede')::boolean, false);
  IF v_together THEN
    -- the reservations the settles and releases name, locked in id order (sorted, then locked)
    WITH locked AS MATERIALIZED (
      SELECT r.id, r.status, r.holds FROM reservations r
       WHERE r.id = ANY(ARRAY(SELECT (x->>'reservation')::uuid FROM jsonb_array_elements(p_items) AS x
                               WHERE x->>'op' IN ('settle', 'release') AND x->>'reservation' IS NOT NULL))
       ORDER BY r.id
         FOR UPDATE
    )
    SELECT coalesce((SELECT array_agg(l.id) FROM locked l WHERE l.status = 'ACTIVE'), '{}'),
           coalesce((SELECT jsonb_agg(h) FROM locked l, jsonb_array_elements(l.holds) AS h
                      WHERE l.status IS DISTINCT FROM 'SETTLED'), '[]'::jsonb)
      INTO v_active, v_holds;
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
        -- (the budget locked against deletion first: a counter that a budget's deletion is taking
        -- with it would otherwise be made again once the deletion commits, and fail its key)
        INSERT INTO budget_counters (budget_id, period_start)
          SELECT v_counter.b, v_counter.s WHERE EXISTS (SELECT 1 FROM budgets b WHERE b.id = v_counter.b FOR KEY SHARE)
          ON CONFLICT DO NOTHING;
      END IF;
      PERFORM 1 FROM budget_counters c WHERE c.budget_id = v_counter.b AND c.period_start = v_counter.s FOR UPDATE;
    END LOOP;
    -- the items that go together: the common settles, and the reserves
    WITH x AS (
      SELECT e.j, (e.n - 1)::integer AS i, e.j->>'op' AS op, (e.j->>'reservation')::uuid AS rid
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(j, n)
    ), once AS (
      SELECT rid FROM x WHERE rid IS NOT NULL GROUP BY rid HAVING count(*) = 1
    ), common AS (
      SELECT x.*, x.op = 'settle' AND x.rid = ANY(v_active) AND x.rid IN (SELECT rid FROM once)
                  AND NOT coalesce((x.j->>'supersede')::boolean, false)
                  AND jsonb_typeof(x.j->'done') IS DISTINCT FROM 'object' AS plain
        FROM x
    )
    SELECT jsonb_agg(c.j ORDER BY c.i) FILTER (WHERE c.plain), coalesce(array_agg(c.i ORDER BY c.i) FILTER (WHERE c.plain), '{}'),
           jsonb_agg(c.j ORDER BY c.i) FILTER (WHERE c.op = 'reserve'), array_agg(c.i ORDER BY c.i) FILTER (WHERE c.op = 'reserve')
      INTO v_plain, v_plain_index, v_reserves, v_reserve_index
      FROM common c;
    IF v_plain IS NOT NULL THEN
      v_places := v_plain_index;
      v_placed := tollgate_settle_many(v_plain);
    END IF;
  END IF;
  -- the other settles and releases, one by one, in item order
  FOR v_item, v_index IN
    SELECT x.j, (x.n - 1)::integer FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n)
     WHERE NOT ((x.n - 1)::integer = ANY(v_plain_index)) AND x.j->>'op' IS DISTINCT FROM 'reserve'
     ORDER BY x.n
  LOOP
    IF v_item->>'op' IS NULL OR v_item->>'op' NOT IN ('settle', 'release') THEN
      RAISE EXCEPTION 'ledger item % has no known op: %', v_index, v_item->>'op';
    END IF;
    v_places := v_places || v_index;
    v_placed := v_placed || jsonb_build_array(CASE v_item->>'op'
                                                WHEN 'settle' THEN tollgate_settle(v_item)
                                                WHEN 'release' THEN tollgate_release(v_item)
                                              END);
  END LOOP;
  IF v_reserves IS NOT NULL THEN -- (a lone settle that supersedes is no reserve)
    v_places := v_places || v_reserve_index;
    v_placed := v_placed || tollgate_reserve_many(v_reserves);
  END IF;
  -- each result in its item's place (a lone item's is in place)
  IF cardinality(v_places) = 1 THEN
    RETURN v_placed;
  END IF;
  SELECT coalesce(jsonb_agg(v_placed->(array_position(v_places, i) - 1) ORDER BY i), '[]'::jsonb) INTO v_results
    FROM generate_series(0, jsonb_array_length(p_items) - 1) AS i;
  RETURN v_results;
END
$fn$;

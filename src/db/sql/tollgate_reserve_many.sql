-- Reserves for many calls at once: what tollgate_reserve decides for each, one after the other in
-- item order, with the counters read once and written once. For tollgate_ledger_batch, which has
-- already made and locked every counter the items name. Each item is checked against the
-- counters as the items before it left them, so the decisions are exactly those of the same calls
-- made one by one in that order; then one UPDATE per counter and one INSERT of the reservations.
-- p_items: [reserve item (see tollgate_reserve)]. Returns one result per item, in item order, as
-- tollgate_reserve answers.
CREATE OR REPLACE FUNCTION tollgate_reserve_many(p_items jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- (It runs inside tollgate_ledger_batch, under its settings: generic plans, no whole-table scans.)
AS $fn$
DECLARE
  v_signatures jsonb;
  v_keys text[];
  v_spent numeric[];
  v_reserved numeric[];
  -- the items' holds, one per (item, budget window), in item order and (budget, start) order
  -- within an item: the item's number, the counter's place in v_keys, the limit, the budget
  v_hold_item integer[];
  v_hold_at integer[];
  v_hold_limit numeric[];
  v_hold_budget uuid[];
  v_results jsonb := '[]'::jsonb;
  -- the items that hold (their numbers), and their reservations' ids
  v_held integer[] := '{}';
  v_ids uuid[] := '{}';
  v_item jsonb;
  v_n integer := 0;
  v_next integer := 1;
  v_first integer;
  v_i integer;
  v_at integer;
  v_amount numeric;
  v_refused jsonb;
  v_id uuid;
BEGIN
  -- What applies to each (project, key) the items name.
  SELECT coalesce(jsonb_object_agg(w.pk, w.signature), '{}'::jsonb) INTO v_signatures
    FROM (SELECT p.pk, tollgate_budget_signature(p.project, p.key) AS signature
            FROM (SELECT DISTINCT (x->>'project') || '/' || coalesce(x->>'key', '') AS pk, (x->>'project')::uuid AS project,
                         (x->>'key')::uuid AS key
                    FROM jsonb_array_elements(p_items) AS x) AS p) AS w;
  -- The counters the items name, as they stand (locked by the caller).
  SELECT array_agg(c.budget_id::text || '/' || c.period_start::text), array_agg(c.spent), array_agg(c.reserved)
    INTO v_keys, v_spent, v_reserved
    FROM budget_counters c
   WHERE (c.budget_id, c.period_start) IN (
           SELECT DISTINCT w.b::uuid, w.s::timestamptz
             FROM jsonb_array_elements(p_items) AS x,
                  ROWS FROM (jsonb_array_elements_text(x->'budgets'), jsonb_array_elements_text(x->'starts')) AS w(b, s));
  SELECT array_agg(h.n ORDER BY h.n, h.b, h.s), array_agg(array_position(v_keys, h.b::text || '/' || h.s::text) ORDER BY h.n, h.b, h.s),
         array_agg(h.lim ORDER BY h.n, h.b, h.s), array_agg(h.b ORDER BY h.n, h.b, h.s)
    INTO v_hold_item, v_hold_at, v_hold_limit, v_hold_budget
    FROM (SELECT x.n::integer AS n, w.b::uuid AS b, w.s::timestamptz AS s, w.lim::numeric AS lim
            FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n),
                 ROWS FROM (jsonb_array_elements_text(x.j->'budgets'), jsonb_array_elements_text(x.j->'starts'),
                            jsonb_array_elements_text(x.j->'limits')) AS w(b, s, lim)) AS h;
  FOR v_item IN SELECT x FROM jsonb_array_elements(p_items) AS x LOOP
    v_n := v_n + 1;
    -- this item's holds: v_first .. v_next - 1
    v_first := v_next;
    WHILE v_next <= coalesce(cardinality(v_hold_item), 0) AND v_hold_item[v_next] = v_n LOOP
      v_next := v_next + 1;
    END LOOP;
    IF v_signatures->>((v_item->>'project') || '/' || coalesce(v_item->>'key', '')) IS DISTINCT FROM v_item->>'signature' THEN
      v_results := v_results || jsonb_build_array('{"stale": true}'::jsonb);
      CONTINUE;
    END IF;
    IF v_first = v_next THEN
      v_results := v_results || jsonb_build_array('{"reservation": null}'::jsonb);
      CONTINUE;
    END IF;
    v_amount := (v_item->>'amount')::numeric;
    v_refused := '[]'::jsonb;
    FOR v_i IN v_first .. v_next - 1 LOOP
      v_at := v_hold_at[v_i];
      CONTINUE WHEN v_at IS NULL; -- its budget was deleted: nothing to hold there
      IF v_spent[v_at] + v_reserved[v_at] + v_amount > v_hold_limit[v_i] THEN
        v_refused := v_refused || jsonb_build_object('budget', v_hold_budget[v_i], 'spent', v_spent[v_at]::text,
                                                     'reserved', v_reserved[v_at]::text);
      END IF;
    END LOOP;
    IF jsonb_array_length(v_refused) > 0 THEN
      v_results := v_results || jsonb_build_array(jsonb_build_object('refused', v_refused));
      CONTINUE;
    END IF;
    FOR v_i IN v_first .. v_next - 1 LOOP
      v_at := v_hold_at[v_i];
      IF v_at IS NOT NULL THEN
        v_reserved[v_at] := v_reserved[v_at] + v_amount;
      END IF;
    END LOOP;
    v_id := gen_random_uuid();
    v_held := v_held || v_n;
    v_ids := v_ids || v_id;
    v_results := v_results || jsonb_build_array(jsonb_build_object('reservation', v_id));
  END LOOP;
  IF cardinality(v_held) = 0 THEN
    RETURN v_results;
  END IF;
  UPDATE budget_counters c SET reserved = c.reserved + d.amount, updated_at = now()
    FROM (SELECT w.b::uuid AS b, w.s::timestamptz AS s, sum((x.j->>'amount')::numeric) AS amount
            FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n),
                 ROWS FROM (jsonb_array_elements_text(x.j->'budgets'), jsonb_array_elements_text(x.j->'starts')) AS w(b, s)
           WHERE x.n::integer = ANY(v_held)
           GROUP BY 1, 2) AS d
   WHERE c.budget_id = d.b AND c.period_start = d.s;
  INSERT INTO reservations (id, project_id, api_key_id, request_id, amount, holds, usage, expires_at)
  SELECT v_ids[array_position(v_held, x.n::integer)], (x.j->>'project')::uuid, (x.j->>'key')::uuid, x.j->>'request',
         (x.j->>'amount')::numeric,
         (SELECT jsonb_agg(jsonb_build_object('budgetId', w.b::uuid, 'periodStart', w.s::timestamptz,
                                              'amount', (x.j->>'amount')::numeric::text)
                           ORDER BY w.b::uuid, w.s::timestamptz)
            FROM ROWS FROM (jsonb_array_elements_text(x.j->'budgets'), jsonb_array_elements_text(x.j->'starts')) AS w(b, s)),
         x.j->'usage', now() + (x.j->>'ttlMs')::integer * interval '1 millisecond'
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n)
   WHERE x.n::integer = ANY(v_held);
  RETURN v_results;
END
$fn$;

-- A lone settle's short path (tollgate_ledger_batch takes it for a batch of one settle: a call at
-- low load): what tollgate_settle_many does for one item, in three statements. Only for the common
-- case: an ACTIVE reservation, nothing superseded, no idempotency record to complete; for any
-- other it answers NULL, having changed nothing, and the general path takes the item. (A
-- reservation another transaction held and closed meanwhile stays locked by the UPDATE that waited
-- for it and then matched nothing: the general path's first lock is that same reservation.)
-- p: a settle item (see tollgate_settle). Returns what tollgate_settle returns.
CREATE OR REPLACE FUNCTION tollgate_settle_lone(p jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- (It runs inside tollgate_ledger_batch, under its settings: generic plans, no whole-table scans.)
AS $fn$
DECLARE
  v_row jsonb := p->'usage';
  v_holds jsonb;
  v_amount numeric;
  v_result jsonb;
BEGIN
  IF p->>'reservation' IS NULL OR coalesce((p->>'supersede')::boolean, false) OR jsonb_typeof(p->'done') = 'object' THEN
    RETURN NULL;
  END IF;
  -- The reservation closed (locked first, as in every ledger function), then its counters locked in
  -- (budget, start) order.
  UPDATE reservations r SET status = 'SETTLED', closed_at = now(), usage = NULL
   WHERE r.id = (p->>'reservation')::uuid AND r.status = 'ACTIVE'
  RETURNING r.holds, r.amount INTO v_holds, v_amount;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  PERFORM 1 FROM budget_counters c, jsonb_array_elements(v_holds) AS h
    WHERE c.budget_id = (h->>'budgetId')::uuid AND c.period_start = (h->>'periodStart')::timestamptz
    ORDER BY c.budget_id, c.period_start
      FOR UPDATE OF c;
  -- (An ACTIVE reservation has no usage record yet: the settle that writes one closes it.)
  WITH written AS (
    INSERT INTO usage_records
    SELECT r.* FROM jsonb_populate_record(NULL::usage_records,
                      jsonb_build_object('created_at', now()) || v_row
                        || jsonb_build_object('reservation_id', p->'reservation')) AS r
    RETURNING id, created_at
  ), changed AS (
    UPDATE budget_counters c
       SET reserved = c.reserved - v_amount, spent = c.spent + (v_row->>'cost')::numeric(30, 12),
           prompt_tokens = c.prompt_tokens + (v_row->>'prompt_tokens')::bigint,
           completion_tokens = c.completion_tokens + (v_row->>'completion_tokens')::bigint,
           requests = c.requests + 1, updated_at = now()
      FROM jsonb_array_elements(v_holds) AS h
     WHERE c.budget_id = (h->>'budgetId')::uuid AND c.period_start = (h->>'periodStart')::timestamptz
    RETURNING c.*
  )
  SELECT jsonb_build_object(
           'usage', (SELECT jsonb_build_object('id', w.id, 'created_at', w.created_at) FROM written w),
           'counters', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                          'budget', c.budget_id, 'start', c.period_start, 'spent', c.spent::text,
                                          'reserved', c.reserved::text, 'prompt', c.prompt_tokens,
                                          'completion', c.completion_tokens, 'requests', c.requests)
                                        ORDER BY c.budget_id)
                                   FROM changed c), '[]'::jsonb))
    INTO v_result;
  RETURN v_result;
END
$fn$;

-- Settles many calls at once, set-based: what tollgate_settle does for each, in a few statements
-- for all of them (one INSERT of the usage records, so the rollup trigger runs once; one UPDATE of
-- each counter; one of the reservations). Only for the common case, which the caller
-- (tollgate_ledger_batch) has checked under lock: each item's reservation is ACTIVE and locked by
-- this transaction, and no two items share one; no item supersedes or completes an idempotency
-- record. (A usage id already written cannot come with an ACTIVE reservation: the settle that wrote
-- it closed the reservation in the same transaction.)
-- p_items: [settle item (see tollgate_settle)], in the order they are taken to happen.
-- Returns one result per item, in item order, as tollgate_settle answers: each item's counters are
-- those after its own charge and the charges of the items before it, as if they had run one by one.
CREATE OR REPLACE FUNCTION tollgate_settle_many(p_items jsonb)
RETURNS jsonb
LANGUAGE plpgsql
-- (It runs inside tollgate_ledger_batch, under its settings: generic plans, no whole-table scans.)
AS $fn$
DECLARE
  v_ids uuid[] := ARRAY(SELECT (x->>'reservation')::uuid FROM jsonb_array_elements(p_items) AS x);
  v_results jsonb;
BEGIN
  INSERT INTO usage_records
  SELECT r.*
    FROM jsonb_array_elements(p_items) AS x,
         jsonb_populate_record(NULL::usage_records,
           jsonb_build_object('created_at', now()) || (x->'usage')
             || jsonb_build_object('reservation_id', x->'reservation')) AS r;
  WITH items AS (
    SELECT x.n, x.j, (x.j->>'reservation')::uuid AS rid
      FROM jsonb_array_elements(p_items) WITH ORDINALITY AS x(j, n)
  ), closed AS (
    UPDATE reservations r SET status = 'SETTLED', closed_at = now(), usage = NULL
     WHERE r.id = ANY(v_ids)
    RETURNING r.id, r.holds, r.amount
  ), deltas AS (
    SELECT i.n, (h->>'budgetId')::uuid AS b, (h->>'periodStart')::timestamptz AS s, c.amount AS unhold,
           (i.j->'usage'->>'cost')::numeric(30, 12) AS spend, (i.j->'usage'->>'prompt_tokens')::bigint AS prompt,
           (i.j->'usage'->>'completion_tokens')::bigint AS completion
      FROM items i JOIN closed c ON c.id = i.rid, jsonb_array_elements(c.holds) AS h
  ), changed AS (
    UPDATE budget_counters c
       SET reserved = c.reserved - d.unhold, spent = c.spent + d.spend,
           prompt_tokens = c.prompt_tokens + d.prompt, completion_tokens = c.completion_tokens + d.completion,
           requests = c.requests + d.requests, updated_at = now()
      FROM (SELECT b, s, sum(unhold) AS unhold, sum(spend) AS spend, sum(prompt) AS prompt,
                   sum(completion) AS completion, count(*)::integer AS requests
              FROM deltas GROUP BY b, s) AS d
     WHERE c.budget_id = d.b AND c.period_start = d.s
    RETURNING c.*
  ), after AS (
    -- each item's view: the counter once every item after it in the batch is taken back out
    SELECT d.n, c.budget_id, jsonb_build_object(
             'budget', c.budget_id, 'start', c.period_start,
             'spent', (c.spent - coalesce(sum(d.spend) OVER later, 0))::numeric(30, 12)::text,
             'reserved', (c.reserved + coalesce(sum(d.unhold) OVER later, 0))::numeric(30, 12)::text,
             'prompt', c.prompt_tokens - coalesce(sum(d.prompt) OVER later, 0),
             'completion', c.completion_tokens - coalesce(sum(d.completion) OVER later, 0),
             'requests', c.requests - count(*) OVER later) AS counter
      FROM deltas d JOIN changed c ON c.budget_id = d.b AND c.period_start = d.s
    WINDOW later AS (PARTITION BY d.b, d.s ORDER BY d.n ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
  ), counters AS (
    SELECT a.n, jsonb_agg(a.counter ORDER BY a.budget_id) AS list FROM after a GROUP BY a.n
  )
  SELECT jsonb_agg(jsonb_build_object(
           'usage', jsonb_build_object('id', (i.j->'usage'->>'id')::uuid, 'created_at', now()),
           'counters', coalesce(k.list, '[]'::jsonb))
           ORDER BY i.n)
    INTO v_results
    FROM items i LEFT JOIN counters k ON k.n = i.n;
  RETURN v_results;
END
$fn$;

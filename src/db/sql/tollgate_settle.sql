-- Settles one call: writes its usage record, closes its reservation and moves the hold to spend on
-- every counter it held, in one step.
-- p: {reservation: uuid or null (no budget applied), usage: the record (UsageRow, with its id),
--     supersede: true when the call is a retry of a requestId whose first call died with its
--     instance, done: {project, request, response} when the requestId's idempotency record is to
--     be completed in the same transaction (the response gains the record's id and time)}.
-- A reservation the sweeper released meanwhile is still charged (the call happened), with nothing
-- left to unhold; one it abandoned (charged at its worst case) has that placeholder record replaced
-- by this one. Idempotent: settling again returns {"already": true, "usage": {id, created_at}}.
-- Returns {"usage": {id, created_at}, "counters": [{budget, start, spent, reserved, prompt,
-- completion, requests}]} with the counters of the call's own holds after the change.
CREATE OR REPLACE FUNCTION tollgate_settle(p jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
  v_reservation uuid := (p->>'reservation')::uuid;
  v_row jsonb := p->'usage';
  v_cost numeric := (v_row->>'cost')::numeric;
  v_prompt bigint := (v_row->>'prompt_tokens')::bigint;
  v_completion bigint := (v_row->>'completion_tokens')::bigint;
  v_status varchar;
  v_holds jsonb;
  v_amount numeric;
  v_usage record;
  v_prev record;
  v_deltas jsonb := '[]'::jsonb;
  v_counters jsonb;
BEGIN
  IF v_reservation IS NOT NULL THEN
    SELECT r.status, r.holds, r.amount INTO v_status, v_holds, v_amount
      FROM reservations r WHERE r.id = v_reservation FOR UPDATE;
    IF v_status = 'SETTLED' THEN
      RETURN jsonb_build_object('already', true, 'usage',
        (SELECT jsonb_build_object('id', u.id, 'created_at', u.created_at) FROM usage_records u
          WHERE u.id = (v_row->>'id')::uuid));
    END IF;
    UPDATE reservations SET status = 'SETTLED', closed_at = now(), usage = NULL WHERE id = v_reservation;
  END IF;
  -- A retry that supersedes locks every counter it will change (its own holds and the dead calls')
  -- before it touches a placeholder record: the dead call's own late settle, if it comes, holds
  -- those counters (a batch locks them up front) and then deletes that placeholder, so taking the
  -- placeholder first would deadlock with it.
  IF coalesce((p->>'supersede')::boolean, false) THEN
    PERFORM 1 FROM budget_counters c
      JOIN (SELECT DISTINCT (h->>'budgetId')::uuid AS b, (h->>'periodStart')::timestamptz AS s
              FROM reservations r, jsonb_array_elements(r.holds) AS h
             -- (one array of ids, so each is an index lookup: an OR of the two would scan every reservation)
             WHERE r.id = ANY (v_reservation || ARRAY(SELECT u.reservation_id FROM usage_records u
                                                       WHERE u.project_id = (v_row->>'project_id')::uuid
                                                         AND u.request_id = v_row->>'request_id'
                                                         AND u.outcome = 'ABANDONED'))) AS w
        ON c.budget_id = w.b AND c.period_start = w.s
     ORDER BY c.budget_id, c.period_start
       FOR UPDATE OF c;
  END IF;
  SELECT * INTO v_usage FROM tollgate_insert_usage(v_row || jsonb_build_object('reservation_id', v_reservation));
  IF NOT v_usage.inserted THEN
    RETURN jsonb_build_object('already', true, 'usage',
      jsonb_build_object('id', v_usage.id, 'created_at', v_usage.created_at));
  END IF;
  IF v_status = 'ABANDONED' THEN
    DELETE FROM usage_records u WHERE u.reservation_id = v_reservation AND u.outcome = 'ABANDONED'
      RETURNING u.cost, u.prompt_tokens, u.completion_tokens INTO v_prev;
    IF FOUND THEN
      v_deltas := tollgate_hold_deltas(v_holds, 0, v_cost - v_prev.cost, v_prompt - v_prev.prompt_tokens,
                                       v_completion - v_prev.completion_tokens, 0);
    ELSE
      v_deltas := tollgate_hold_deltas(v_holds, 0, v_cost, v_prompt, v_completion, 1);
    END IF;
  ELSIF v_holds IS NOT NULL THEN
    v_deltas := tollgate_hold_deltas(v_holds, CASE WHEN v_status = 'ACTIVE' THEN v_amount ELSE 0 END,
                                     v_cost, v_prompt, v_completion, 1);
  END IF;
  IF coalesce((p->>'supersede')::boolean, false) THEN
    v_deltas := v_deltas || tollgate_supersede((v_row->>'project_id')::uuid, v_row->>'request_id', v_reservation);
  END IF;
  WITH changed AS (SELECT * FROM tollgate_apply_deltas(v_deltas))
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'budget', c.budget_id, 'start', c.period_start, 'spent', c.spent::text, 'reserved', c.reserved::text,
           'prompt', c.prompt_tokens, 'completion', c.completion_tokens, 'requests', c.requests)
           ORDER BY c.budget_id), '[]'::jsonb)
    INTO v_counters
    FROM changed c
   WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(v_holds) h
                  WHERE (h->>'budgetId')::uuid = c.budget_id AND (h->>'periodStart')::timestamptz = c.period_start);
  IF jsonb_typeof(p->'done') = 'object' THEN
    UPDATE idempotency_records
       SET status = 'DONE', lease_until = NULL,
           response = (p->'done'->'response') || jsonb_build_object('id', v_usage.id, 'createdAt', v_usage.created_at)
     WHERE project_id = (p->'done'->>'project')::uuid AND request_id = p->'done'->>'request';
  END IF;
  RETURN jsonb_build_object('usage', jsonb_build_object('id', v_usage.id, 'created_at', v_usage.created_at),
                            'counters', v_counters);
END
$fn$;

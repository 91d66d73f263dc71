-- Changes budget counters: p_deltas is a list of {budget, start, unhold, spend, prompt,
-- completion, requests} (money as text), several of which may name the same counter. They are
-- summed per counter, the counters locked in (budget, start) order, the order every ledger
-- function locks them in, so no two transactions can deadlock on them, then changed. A counter
-- whose budget was deleted meanwhile is skipped. Returns the counters after the change.
CREATE OR REPLACE FUNCTION tollgate_apply_deltas(p_deltas jsonb)
RETURNS SETOF budget_counters
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM 1 FROM budget_counters c
    JOIN (SELECT DISTINCT (d->>'budget')::uuid AS b, (d->>'start')::timestamptz AS s
            FROM jsonb_array_elements(p_deltas) AS d) w
      ON c.budget_id = w.b AND c.period_start = w.s
   ORDER BY c.budget_id, c.period_start FOR UPDATE OF c;
  RETURN QUERY
    WITH summed AS (
      SELECT (d->>'budget')::uuid AS b, (d->>'start')::timestamptz AS s,
             sum(coalesce((d->>'unhold')::numeric, 0)) AS unhold, sum(coalesce((d->>'spend')::numeric, 0)) AS spend,
             sum(coalesce((d->>'prompt')::bigint, 0)) AS prompt, sum(coalesce((d->>'completion')::bigint, 0)) AS completion,
             sum(coalesce((d->>'requests')::integer, 0))::integer AS requests
        FROM jsonb_array_elements(p_deltas) AS d GROUP BY 1, 2
    )
    UPDATE budget_counters c
       SET reserved = c.reserved - summed.unhold,
           spent = c.spent + summed.spend,
           prompt_tokens = c.prompt_tokens + summed.prompt,
           completion_tokens = c.completion_tokens + summed.completion,
           requests = c.requests + summed.requests,
           updated_at = now()
      FROM summed
     WHERE c.budget_id = summed.b AND c.period_start = summed.s
    RETURNING c.*;
END
$fn$;

-- The deltas (see tollgate_apply_deltas) that move one reservation's holds: `unhold` taken off
-- `reserved`, the rest added, on every counter the reservation held.
CREATE OR REPLACE FUNCTION tollgate_hold_deltas(
  p_holds jsonb, p_unhold numeric, p_spend numeric, p_prompt bigint, p_completion bigint, p_requests integer
) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'budget', h->>'budgetId', 'start', h->>'periodStart', 'unhold', p_unhold::text, 'spend', p_spend::text,
           'prompt', p_prompt, 'completion', p_completion, 'requests', p_requests)), '[]'::jsonb)
    FROM jsonb_array_elements(p_holds) AS h
$fn$;

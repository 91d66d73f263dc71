-- A retry of a requestId whose first call died with its instance: the placeholder records the
-- sweeper wrote for that call (ABANDONED, at its worst case) give way to the retry's own, so the
-- requestId is charged once. Deletes them and returns the deltas (see tollgate_apply_deltas) that
-- take them off the counters their reservations held.
CREATE OR REPLACE FUNCTION tollgate_supersede(p_project uuid, p_request varchar, p_keep uuid)
RETURNS jsonb
LANGUAGE sql AS $fn$
  WITH gone AS (
    DELETE FROM usage_records u
     WHERE u.project_id = p_project AND u.request_id = p_request AND u.outcome = 'ABANDONED'
       AND u.reservation_id IS DISTINCT FROM p_keep
    RETURNING u.reservation_id, u.cost, u.prompt_tokens, u.completion_tokens
  )
  SELECT coalesce(jsonb_agg(d), '[]'::jsonb)
    FROM gone g
    JOIN reservations r ON r.id = g.reservation_id,
         jsonb_array_elements(tollgate_hold_deltas(r.holds, 0, -g.cost, -g.prompt_tokens, -g.completion_tokens, -1)) AS d
$fn$;

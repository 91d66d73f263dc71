-- The holds of calls that died: ACTIVE reservations past their expiry (a live call renews its
-- own). With p_charge (the default policy) each is charged at its reserved amount, since its
-- upstream may have answered and billed: status ABANDONED, spend taken from the hold, and a
-- placeholder usage record (outcome ABANDONED, the reserved amount and estimated tokens) that the
-- real settle, if it ever comes, or a retry of the same requestId replaces. Without p_charge each
-- is released. At most p_limit, skipping reservations another transaction has locked. With
-- p_request, only that request's ACTIVE holds, expired or not: a retry that took over the
-- requestId's lapsed lease knows their call is dead.
-- Returns {"abandoned": n, "released": n, "projects": [uuid]}.
CREATE OR REPLACE FUNCTION tollgate_sweep_holds(
  p_limit integer, p_charge boolean, p_project uuid DEFAULT NULL, p_request varchar DEFAULT NULL
)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
  v_res record;
  v_deltas jsonb := '[]'::jsonb;
  v_projects uuid[] := '{}';
  v_abandoned integer := 0;
  v_released integer := 0;
BEGIN
  FOR v_res IN
    SELECT r.id, r.project_id, r.api_key_id, r.request_id, r.amount, r.holds, r.usage FROM reservations r
     WHERE r.status = 'ACTIVE'
       AND CASE WHEN p_request IS NULL THEN r.expires_at < now()
                ELSE r.project_id = p_project AND r.request_id = p_request END
     ORDER BY r.expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED
  LOOP
    v_projects := v_projects || v_res.project_id;
    IF p_charge AND v_res.usage IS NOT NULL THEN
      v_abandoned := v_abandoned + 1;
      UPDATE reservations SET status = 'ABANDONED', closed_at = now(), usage = NULL WHERE id = v_res.id;
      -- The record: what every abandoned one says, then what the call knew when it reserved (a hold
      -- made before that was kept apart carries the whole record: the same values), then its charge.
      PERFORM tollgate_insert_usage(
        jsonb_build_object(
          'project_id', v_res.project_id, 'api_key_id', v_res.api_key_id, 'request_id', v_res.request_id,
          'total_tokens', (v_res.usage->>'prompt_tokens')::bigint + (v_res.usage->>'completion_tokens')::bigint,
          'cached_prompt_tokens', 0, 'cache_write_tokens', 0, 'reasoning_tokens', 0, 'cache_savings', '0',
          'priced', true, 'price_note', 'abandoned: charged its reservation (the call died before it settled)',
          'gateway_latency_ms', 0, 'upstream_latency_ms', 0, 'attempts', 0, 'downgraded', false)
        || v_res.usage
        || jsonb_build_object('cost', v_res.amount::text, 'outcome', 'ABANDONED', 'reservation_id', v_res.id,
                              'error_code', 'ABANDONED'));
      v_deltas := v_deltas || tollgate_hold_deltas(v_res.holds, v_res.amount, v_res.amount,
        (v_res.usage->>'prompt_tokens')::bigint, (v_res.usage->>'completion_tokens')::bigint, 1);
    ELSE
      v_released := v_released + 1;
      UPDATE reservations SET status = 'RELEASED', closed_at = now(), usage = NULL WHERE id = v_res.id;
      v_deltas := v_deltas || tollgate_hold_deltas(v_res.holds, v_res.amount, 0, 0, 0, 0);
    END IF;
  END LOOP;
  PERFORM tollgate_apply_deltas(v_deltas);
  RETURN jsonb_build_object(
    'abandoned', v_abandoned,
    'released', v_released,
    'projects', (SELECT coalesce(jsonb_agg(DISTINCT x), '[]'::jsonb) FROM unnest(v_projects) AS x));
END
$fn$;

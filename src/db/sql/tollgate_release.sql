-- Gives a hold back untouched (the call failed before costing anything) and, when the upstream was
-- reached, writes the failed attempt's usage record (at $0).
-- p: {reservation: uuid or null, usage: UsageRow or null}. Idempotent: a hold that is no longer
-- ACTIVE is left as it is. Returns {"released": bool, "usage": {id, created_at} or null}.
CREATE OR REPLACE FUNCTION tollgate_release(p jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE
  v_holds jsonb;
  v_amount numeric;
  v_usage jsonb;
BEGIN
  IF p->>'reservation' IS NOT NULL THEN
    UPDATE reservations SET status = 'RELEASED', closed_at = now(), usage = NULL
     WHERE id = (p->>'reservation')::uuid AND status = 'ACTIVE'
    RETURNING holds, amount INTO v_holds, v_amount;
    IF FOUND THEN
      PERFORM tollgate_apply_deltas(tollgate_hold_deltas(v_holds, v_amount, 0, 0, 0, 0));
    END IF;
  END IF;
  IF jsonb_typeof(p->'usage') = 'object' THEN
    SELECT jsonb_build_object('id', u.id, 'created_at', u.created_at) INTO v_usage
      FROM tollgate_insert_usage(p->'usage') AS u;
  END IF;
  RETURN jsonb_build_object('released', v_holds IS NOT NULL, 'usage', v_usage);
END
$fn$;

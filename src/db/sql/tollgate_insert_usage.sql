-- The one INSERT of a usage record. p_row holds the record's columns by name (as usage_records
-- has them; UsageRow in ledger.types.ts), money as text; id and created_at may be given (a settle
-- retried after a lost connection sends the same id, and finds its first try's row) or left to
-- the database. A new column of usage_records needs no change here: only its entity, its
-- generated migration and UsageRow.
-- Returns the record's id and time; `inserted` is false when a row with that id already existed.
CREATE OR REPLACE FUNCTION tollgate_insert_usage(p_row jsonb)
RETURNS TABLE (id uuid, created_at timestamptz, inserted boolean)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_row usage_records;
BEGIN
  v_row := jsonb_populate_record(NULL::usage_records,
             jsonb_build_object('id', gen_random_uuid(), 'created_at', now()) || p_row);
  INSERT INTO usage_records SELECT v_row.* ON CONFLICT DO NOTHING;
  IF FOUND THEN
    RETURN QUERY SELECT v_row.id, v_row.created_at, true;
  ELSE
    RETURN QUERY SELECT u.id, u.created_at, false FROM usage_records u WHERE u.id = v_row.id;
  END IF;
END
$fn$;

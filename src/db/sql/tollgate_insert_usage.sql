-- The one INSERT of a usage record. p_row holds the record's columns by name (as usage_records
-- has them; UsageRow in ledger.types.ts), money as text; id and created_at may be given (a settle
-- retried after a lost connection sends the same id, and finds its first try's row) or left to
-- the database. A new column of usage_records needs no change here: only its entity, its
-- generated migration and UsageRow.
-- usage_records is partitioned by month, so its primary key is (id, created_at): a retry, whose
-- created_at is a later now(), would not collide with its first try on the key. A given id is
-- therefore locked for the transaction (a first try still running in the database is waited for)
-- and looked for among the records of the day before the new one's time.
-- Returns the record's id and time; `inserted` is false when a row with that id already existed.
CREATE OR REPLACE FUNCTION tollgate_insert_usage(p_row jsonb)
RETURNS TABLE (id uuid, created_at timestamptz, inserted boolean)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_row usage_records;
  v_first record;
BEGIN
  v_row := jsonb_populate_record(NULL::usage_records,
             jsonb_build_object('id', gen_random_uuid(), 'created_at', now()) || p_row);
  IF p_row ? 'id' THEN
    PERFORM pg_advisory_xact_lock(7411004, hashtext(v_row.id::text));
    SELECT u.id, u.created_at INTO v_first FROM usage_records u
     WHERE u.id = v_row.id AND u.created_at >= v_row.created_at - interval '1 day';
    IF FOUND THEN
      RETURN QUERY SELECT v_first.id, v_first.created_at, false;
      RETURN;
    END IF;
  END IF;
  INSERT INTO usage_records SELECT v_row.*;
  RETURN QUERY SELECT v_row.id, v_row.created_at, true;
END
$fn$;

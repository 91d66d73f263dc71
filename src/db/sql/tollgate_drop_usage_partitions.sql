-- Retention: drops the raw usage records from before p_before, as whole monthly partitions (those
-- that end by then; see tollgate_create_usage_partitions) and, in the default partition, record by
-- record. Neither fires the rollup triggers (a dropped table deletes no rows; the default partition
-- is named, not usage_records), so usage_rollups keeps every hour and day: reports over that time
-- still answer, for its whole hours. Gives up (to try at the next sweep) rather than wait more than
-- 2 s for a lock. Returns the partitions dropped.
CREATE OR REPLACE FUNCTION tollgate_drop_usage_partitions(p_before timestamptz)
RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
  v_name text;
  v_dropped text[] := '{}';
BEGIN
  PERFORM set_config('lock_timeout', '2s', true);
  PERFORM pg_advisory_xact_lock(7411005);
  FOR v_name IN
    SELECT c.relname
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'usage_records'::regclass AND c.relname ~ '^usage_records_y[0-9]{4}m[0-9]{2}$'
       AND (make_timestamp(substr(c.relname, 16, 4)::integer, substr(c.relname, 21, 2)::integer, 1, 0, 0, 0)
            + interval '1 month') AT TIME ZONE 'UTC' <= p_before
     ORDER BY 1
  LOOP
    EXECUTE format('DROP TABLE %I', v_name);
    v_dropped := v_dropped || v_name;
  END LOOP;
  DELETE FROM usage_records_default WHERE created_at < p_before;
  RETURN v_dropped;
END
$fn$;

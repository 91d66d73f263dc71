-- usage_records is partitioned by UTC month (usage_records_yYYYYmMM, [first of the month, first of
-- the next) in UTC), with a default partition for anything no month holds. This makes the
-- partitions from this month to p_months_ahead months ahead, and one for every month that has
-- records in the default partition (a month no sweep prepared in time), moving them into it: the
-- move names the partitions, so the rollup triggers (on usage_records) do not fire and the sums
-- stay as they are. Gives up (to try at the next sweep) rather than wait more than 2 s for a lock.
-- Returns the partitions made.
CREATE OR REPLACE FUNCTION tollgate_create_usage_partitions(p_months_ahead integer)
RETURNS text[]
LANGUAGE plpgsql AS $fn$
DECLARE
  v_month timestamp;
  v_from timestamptz;
  v_to timestamptz;
  v_name text;
  v_made text[] := '{}';
BEGIN
  PERFORM set_config('lock_timeout', '2s', true);
  PERFORM pg_advisory_xact_lock(7411005);
  FOR v_month IN
    SELECT generate_series(date_trunc('month', now() AT TIME ZONE 'UTC'),
                           date_trunc('month', now() AT TIME ZONE 'UTC') + p_months_ahead * interval '1 month',
                           interval '1 month')
    UNION
    SELECT DISTINCT date_trunc('month', d.created_at AT TIME ZONE 'UTC') FROM usage_records_default d
    ORDER BY 1
  LOOP
    v_name := 'usage_records_' || to_char(v_month, '"y"YYYY"m"MM');
    CONTINUE WHEN to_regclass(quote_ident(v_name)) IS NOT NULL;
    v_from := v_month AT TIME ZONE 'UTC';
    v_to := (v_month + interval '1 month') AT TIME ZONE 'UTC';
    IF EXISTS (SELECT 1 FROM usage_records_default d WHERE d.created_at >= v_from AND d.created_at < v_to) THEN
      -- no record may land in the default partition between the move and the attach
      LOCK TABLE usage_records_default IN ACCESS EXCLUSIVE MODE;
      EXECUTE format('CREATE TABLE %I (LIKE usage_records INCLUDING DEFAULTS)', v_name);
      EXECUTE format('WITH moved AS (DELETE FROM usage_records_default WHERE created_at >= $1 AND created_at < $2 RETURNING *)
                      INSERT INTO %I SELECT * FROM moved', v_name) USING v_from, v_to;
      EXECUTE format('ALTER TABLE usage_records ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
    ELSE
      EXECUTE format('CREATE TABLE %I PARTITION OF usage_records FOR VALUES FROM (%L) TO (%L)', v_name, v_from, v_to);
    END IF;
    v_made := v_made || v_name;
  END LOOP;
  RETURN v_made;
END
$fn$;

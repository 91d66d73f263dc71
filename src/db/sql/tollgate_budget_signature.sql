-- What applies to a project and key, as the reserve functions compare it with the caller's
-- `signature` (budgetSignature in counters.ts builds the caller's): "id:limit:period:zone" of each
-- budget of the project or of the key, in id order, joined by commas; '' when none applies.
-- (plpgsql, not sql: its statement is planned once per connection, not on every call.)
CREATE OR REPLACE FUNCTION tollgate_budget_signature(p_project uuid, p_key uuid)
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
  RETURN coalesce((SELECT string_agg(b.id::text || ':' || b.limit_usd::text || ':' || b.period || ':' || b.time_zone, ','
                                     ORDER BY b.id)
                     FROM budgets b
                    WHERE b.project_id = p_project AND (b.api_key_id IS NULL OR b.api_key_id = p_key)), '');
END
$fn$;

-- Holds `amount` on every budget in `budgets` (windows `starts`, limits `limits`), all or none.
-- p: {project, key, request, amount, ttlMs, signature, budgets: [uuid], starts: [iso], limits: [text],
--     usage: the usage record to write if the hold is ever abandoned (see tollgate_sweep_holds)}.
-- `signature` is what the caller believes applies ("id:limit:period:zone" in id order); when the
-- database disagrees (a budget added, changed or removed since the caller cached them) nothing is
-- done and {"stale": true} comes back, so the caller reloads and tries again.
-- Returns {"reservation": id} (null when no budget applies), or {"refused": [{budget, spent,
-- reserved}]} naming every budget the amount does not fit, with nothing held.
-- The decision is tollgate_reserve_many's, as a batch of one: the ledger's calls all come through
-- tollgate_ledger_batch; this is the one-call form, for a caller outside it.
CREATE OR REPLACE FUNCTION tollgate_reserve(p jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN tollgate_ledger_batch(jsonb_build_array(p || '{"op": "reserve"}'::jsonb))->0;
END
$fn$;

import { Client } from 'pg';

/**
 * The invariants a fault must not break, read straight from the database, in one snapshot (a sweep
 * committing between two of the reads would otherwise show its hold both released and not).
 */
export async function ledger(url: string): Promise<{
  spent: string;
  usageCost: string;
  reserved: string;
  activeReservations: number;
  rows: number;
  /** The hourly rollups' sums (usage_rollups): equal to the records' when the rollups are exact. */
  rollupCost: string;
  rollupRows: number;
  requestIds: Set<string>;
}> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const counters = await client.query<{ spent: string; reserved: string }>(
      `SELECT coalesce(sum(spent), 0)::text AS spent, coalesce(sum(reserved), 0)::text AS reserved FROM budget_counters`,
    );
    const usage = await client.query<{ cost: string; rows: string }>(
      `SELECT coalesce(sum(cost), 0)::text AS cost, count(*)::text AS rows FROM usage_records`,
    );
    const rollups = await client.query<{ cost: string; requests: string }>(
      `SELECT coalesce(sum(cost), 0)::text AS cost, coalesce(sum(requests), 0)::text AS requests
         FROM usage_rollups WHERE grain = 'hour'`,
    );
    const active = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM reservations WHERE status = 'ACTIVE'`,
    );
    const ids = await client.query<{ request_id: string }>(
      `SELECT request_id FROM usage_records WHERE outcome = 'SUCCESS'`,
    );
    await client.query('COMMIT');
    const [c] = counters.rows;
    const [u] = usage.rows;
    const [a] = active.rows;
    const [r] = rollups.rows;
    if (!c || !u || !a || !r) throw new Error('an aggregate query returned no row');
    return {
      spent: c.spent,
      reserved: c.reserved,
      usageCost: u.cost,
      rows: Number(u.rows),
      rollupCost: r.cost,
      rollupRows: Number(r.requests),
      activeReservations: Number(a.n),
      requestIds: new Set(ids.rows.map((r) => r.request_id)),
    };
  } finally {
    await client.end();
  }
}

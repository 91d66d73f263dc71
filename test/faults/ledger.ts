import { Client } from 'pg';

/** The invariants a fault must not break, read straight from the database. */
export async function ledger(url: string): Promise<{
  spent: string;
  usageCost: string;
  reserved: string;
  activeReservations: number;
  rows: number;
  requestIds: Set<string>;
}> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const counters = await client.query<{ spent: string; reserved: string }>(
      `SELECT coalesce(sum(spent), 0)::text AS spent, coalesce(sum(reserved), 0)::text AS reserved FROM budget_counters`,
    );
    const usage = await client.query<{ cost: string; rows: string }>(
      `SELECT coalesce(sum(cost), 0)::text AS cost, count(*)::text AS rows FROM usage_records`,
    );
    const active = await client.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM reservations WHERE status = 'ACTIVE'`,
    );
    const ids = await client.query<{ request_id: string }>(
      `SELECT request_id FROM usage_records WHERE outcome = 'SUCCESS'`,
    );
    const [c] = counters.rows;
    const [u] = usage.rows;
    const [a] = active.rows;
    if (!c || !u || !a) throw new Error('an aggregate query returned no row');
    return {
      spent: c.spent,
      reserved: c.reserved,
      usageCost: u.cost,
      rows: Number(u.rows),
      activeReservations: Number(a.n),
      requestIds: new Set(ids.rows.map((r) => r.request_id)),
    };
  } finally {
    await client.end();
  }
}

import { Client } from 'pg';
import type { Gql } from './setup';

/**
 * What the gateway wrote, read back: usage records and budget counters. On Postgres straight
 * from the tables (and pg_stat_database); on the embedded database, which lives inside the
 * Tollgate process, through the GraphQL `usage` and `budgetStatus` queries.
 */

export interface CounterView {
  label: string;
  spent: string;
  reserved: string;
  requests: number;
  /** Sum of usage record costs over the same window(s) as `spent`. */
  usageCost: string;
}

export interface LedgerSnapshot {
  usageRecords: number;
  /** Records with outcome SUCCESS (Postgres only). */
  successRecords: number | undefined;
  /** Reservations still ACTIVE (Postgres only). */
  activeReservations: number | undefined;
  counters: CounterView[];
}

export interface DbStats {
  transactions: number;
  inserted: number;
  updated: number;
  deleted: number;
  returned: number;
  /**
   * pg_stat_user_functions by name: calls and milliseconds, self (without the functions it calls)
   * and total. Empty unless the bench database tracks functions (`--db-set track_functions=all`).
   */
  functions: Record<string, { calls: number; selfMs: number; totalMs: number }>;
}

export interface LedgerView {
  readonly kind: 'postgres' | 'embedded';
  usageCount(): Promise<number>;
  snapshot(): Promise<LedgerSnapshot>;
  /** Cumulative pg_stat_database figures of the bench database (Postgres only). */
  dbStats(): Promise<DbStats | undefined>;
  /** Pids of the server backends serving the bench database, or `database` (Postgres only). */
  backendPids(database?: string): Promise<number[]>;
  /**
   * What each backend of the bench database is doing right now, e.g. "active CPU",
   * "active Lock:transactionid", "idle in transaction" (waiting for Tollgate's next statement),
   * "idle" (a pooled connection with nothing to do). Postgres only; empty on embedded.
   */
  backendStates(): Promise<string[]>;
  /** Bytes of WAL the server has written so far, all databases together (Postgres only). */
  walBytes(): Promise<number | undefined>;
  close(): Promise<void>;
}

export async function postgresLedger(url: string, database: string, projectId: string): Promise<LedgerView> {
  const client = new Client({ connectionString: url });
  await client.connect();
  let closed = false;
  const one = async <T>(sql: string, params: unknown[]): Promise<T> =>
    (await client.query(sql, params)).rows[0];
  return {
    kind: 'postgres',
    async usageCount() {
      const row = await one<{ n: number }>(
        'SELECT count(*)::int AS n FROM usage_records WHERE project_id = $1',
        [projectId],
      );
      return row.n;
    },
    async snapshot() {
      const usage = await one<{ n: number; ok: number; cost: string }>(
        `SELECT count(*)::int AS n, (count(*) FILTER (WHERE outcome = 'SUCCESS'))::int AS ok,
                coalesce(sum(cost), 0)::text AS cost
           FROM usage_records WHERE project_id = $1`,
        [projectId],
      );
      const active = await one<{ n: number }>(
        `SELECT count(*)::int AS n FROM reservations WHERE project_id = $1 AND status = 'ACTIVE'`,
        [projectId],
      );
      // All periods of each budget together, so a run across midnight still balances.
      const { rows } = await client.query<{
        period: string;
        spent: string;
        reserved: string;
        requests: number;
      }>(
        `SELECT b.period, coalesce(sum(c.spent), 0)::text AS spent, coalesce(sum(c.reserved), 0)::text AS reserved,
                coalesce(sum(c.requests), 0)::int AS requests
           FROM budgets b LEFT JOIN budget_counters c ON c.budget_id = b.id
          WHERE b.project_id = $1 GROUP BY b.id, b.period ORDER BY b.period`,
        [projectId],
      );
      return {
        usageRecords: usage.n,
        successRecords: usage.ok,
        activeReservations: active.n,
        counters: rows.map((r) => ({ label: r.period, ...r, usageCost: usage.cost })),
      };
    },
    async dbStats() {
      const row = await one<Record<keyof DbStats, string>>(
        `SELECT xact_commit + xact_rollback AS transactions, tup_inserted AS inserted, tup_updated AS updated,
                tup_deleted AS deleted, tup_returned AS returned
           FROM pg_stat_database WHERE datname = $1`,
        [database],
      );
      const functions: DbStats['functions'] = {};
      const { rows: fns } = await client.query<{ name: string; calls: string; self: number; total: number }>(
        'SELECT funcname AS name, calls, self_time AS self, total_time AS total FROM pg_stat_user_functions',
      );
      for (const f of fns) functions[f.name] = { calls: Number(f.calls), selfMs: f.self, totalMs: f.total };
      return {
        functions,
        transactions: Number(row.transactions),
        inserted: Number(row.inserted),
        updated: Number(row.updated),
        deleted: Number(row.deleted),
        returned: Number(row.returned),
      };
    },
    async walBytes() {
      const row = await one<{ bytes: number }>(
        `SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 AS bytes`,
        [],
      );
      return row.bytes;
    },
    async backendPids(other?: string) {
      const { rows } = await client.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [other ?? database],
      );
      return rows.map((r) => r.pid);
    },
    async backendStates() {
      const { rows } = await client.query<{ state: string }>(
        `SELECT CASE WHEN state = 'active'
                     THEN 'active ' || coalesce(wait_event_type || ':' || wait_event, 'CPU')
                     ELSE coalesce(state, 'unknown') END AS state
           FROM pg_stat_activity
          WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        [database],
      );
      return rows.map((r) => r.state);
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.end();
    },
  };
}

interface UsageTotal {
  usage: { total: { requests: number; cost: string } };
}

export function graphqlLedger(gql: Gql, adminKey: string): LedgerView {
  const usageTotal = async (from: string, to: string) =>
    (
      await gql<UsageTotal>(
        `query($input: UsageRangeInput!) { usage(input: $input) { total { requests cost } } }`,
        { input: { from, to, groupBy: 'MODEL' } },
        adminKey,
      )
    ).usage.total;
  const allTime = () => usageTotal('2000-01-01T00:00:00Z', new Date(Date.now() + 86_400_000).toISOString());
  return {
    kind: 'embedded',
    usageCount: async () => (await allTime()).requests,
    async snapshot() {
      const { budgetStatus } = await gql<{
        budgetStatus: {
          budget: { period: string };
          periodStart: string;
          periodEnd: string;
          spent: string;
          reserved: string;
          requests: number;
        }[];
      }>(
        `{ budgetStatus { budget { period } periodStart periodEnd spent reserved requests } }`,
        {},
        adminKey,
      );
      const counters: CounterView[] = [];
      for (const s of budgetStatus) {
        const window = await usageTotal(s.periodStart, s.periodEnd);
        counters.push({
          label: s.budget.period,
          spent: s.spent,
          reserved: s.reserved,
          requests: s.requests,
          usageCost: window.cost,
        });
      }
      return {
        usageRecords: (await allTime()).requests,
        successRecords: undefined,
        activeReservations: undefined,
        counters,
      };
    },
    dbStats: async () => undefined,
    backendPids: async () => [],
    backendStates: async () => [],
    walBytes: async () => undefined,
    close: async () => undefined,
  };
}

/**
 * Samples `backendStates` every `intervalMs` until stopped; `stop` gives the average number of
 * backends in each state over the samples, largest first.
 */
export function sampleBackends(
  view: LedgerView,
  intervalMs = 50,
): { stop(): Promise<Record<string, number>> } {
  const totals = new Map<string, number>();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const states = await view.backendStates();
      samples++;
      for (const state of states) totals.set(state, (totals.get(state) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const averages = [...totals].map(([state, n]) => [state, n / Math.max(samples, 1)] as const);
      return Object.fromEntries(averages.sort((a, b) => b[1] - a[1]));
    },
  };
}

/** An exact decimal string ("0.000014", "12", "-1.5") as an integer count of 1e-12 units. */
export function toPico(value: string): bigint {
  const negative = value.trim().startsWith('-');
  const [whole, fraction = ''] = value.trim().replace(/^[-+]/, '').split('.');
  const pico = BigInt(whole || '0') * 10n ** 12n + BigInt((fraction + '0'.repeat(12)).slice(0, 12));
  return negative ? -pico : pico;
}

export interface LedgerExpectation {
  /** Completions the load generators saw succeed (including warm-up). */
  clientSuccesses: number;
  /** Budgets the project has (each must have a balanced counter). */
  budgets: number;
  /** Completions the fake upstream served to Tollgate. */
  upstreamCalls: number;
}

export interface LedgerCheck {
  pass: boolean;
  lines: string[];
}

export function checkLedger(snapshot: LedgerSnapshot, expected: LedgerExpectation): LedgerCheck {
  const lines: string[] = [];
  let pass = true;
  const check = (ok: boolean, text: string) => {
    pass &&= ok;
    lines.push(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
  };
  for (const c of snapshot.counters) {
    check(
      toPico(c.spent) === toPico(c.usageCost),
      `${c.label} spent ${c.spent} = sum(usage cost) ${c.usageCost}`,
    );
    check(toPico(c.reserved) === 0n, `${c.label} reserved ${c.reserved} = 0`);
    check(
      c.requests === expected.clientSuccesses,
      `${c.label} requests ${c.requests} = successful completions ${expected.clientSuccesses}`,
    );
  }
  check(
    snapshot.counters.length === expected.budgets,
    `budgets found: ${snapshot.counters.length} (want ${expected.budgets})`,
  );
  check(
    snapshot.usageRecords === expected.upstreamCalls,
    `usage_records ${snapshot.usageRecords} = upstream calls from Tollgate ${expected.upstreamCalls}`,
  );
  if (snapshot.successRecords !== undefined) {
    check(
      snapshot.successRecords === expected.clientSuccesses,
      `usage_records SUCCESS ${snapshot.successRecords} = successful completions ${expected.clientSuccesses}`,
    );
  }
  if (snapshot.activeReservations !== undefined) {
    check(snapshot.activeReservations === 0, `active reservations ${snapshot.activeReservations} = 0`);
  }
  return { pass, lines };
}

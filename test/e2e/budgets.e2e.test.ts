import type { Pool } from 'pg';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { ReservationService, type Hold } from '../../src/modules/budgets/reservation.service';
import { usageJson } from '../../src/modules/usage/usage.service';
import { formatUsd, parseUsd, type Pico } from '../../src/shared/money';
import { addBillingCatalog, clearOfMidnight, ledger, worstCaseOf, worstCaseReply } from '../support/billing';
import { FakeUpstream } from '../support/fake-upstream';
import { eventually, TestServer, user, type GqlResult } from '../support/harness';

const onPostgres = process.env.DATABASE_URL ? it : it.skip;
const CALL = { model: 'deepseek-chat', messages: user('How many tokens is this?'), maxTokens: 200 };

interface Tenant {
  projectId: string;
  admin: string;
  client: { id: string; key: string };
}

async function tenant(t: TestServer, upstream: FakeUpstream, name: string): Promise<Tenant> {
  const { projectId, adminKey } = await t.createProject(name);
  const client = await t.createKey(adminKey, 'CLIENT');
  await addBillingCatalog(t, adminKey, upstream.baseUrl);
  return { projectId, admin: adminKey, client };
}

type Completion = GqlResult<{ createChatCompletion: Record<string, unknown> }>;

/** Alerts of a budget as "TYPE threshold x count", and the spend each fired at. */
async function alertsOf(t: TestServer, budgetId: string) {
  const rows = (await t.app.db.query(
    `SELECT type, threshold::float8 AS threshold, count(*)::int AS n, min(snapshot->>'spent') AS spent
       FROM alerts WHERE budget_id = $1 GROUP BY type, threshold ORDER BY type, threshold`,
    [budgetId],
  )) as { type: string; threshold: number | null; n: number; spent: string }[];
  return rows.map((r) => ({ alert: `${r.type} ${r.threshold ?? '-'} x${r.n}`, spent: parseUsd(r.spent) }));
}

/**
 * Fires `count` completions at once, spread round-robin over `servers`, against a budget that fits
 * exactly `fits` of them, and checks the books: nothing over the limit, nothing left reserved,
 * counters equal to the usage ledger, and each threshold alerted once, by the call that crossed it.
 */
async function stampede(servers: TestServer[], upstream: FakeUpstream, count: number, fits: number) {
  const t = servers[0];
  const { projectId, admin, client } = await tenant(t, upstream, `stampede-${servers.length}`);
  const cost = await worstCaseOf(t, client.key, CALL);
  expect(cost).toBeGreaterThan(0n);
  const limit = cost * BigInt(fits);
  await clearOfMidnight();
  const daily = await t.createBudget(admin, { period: 'DAILY', limitUsd: formatUsd(limit) });
  const monthly = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: formatUsd(limit * 100n) });
  const callsBefore = upstream.calls.length;

  const started = Date.now();
  const results: Completion[] = await Promise.all(
    Array.from({ length: count }, (_, i) => servers[i % servers.length].complete(client.key, CALL)),
  );
  const elapsed = Date.now() - started;

  const served = results.filter((r) => r.data?.createChatCompletion);
  const refused = results.filter((r) => r.errors?.length);
  expect(served.length + refused.length).toBe(count);
  expect(refused.map((r) => r.errors![0].extensions?.code)).toEqual(refused.map(() => 'BUDGET_EXCEEDED'));
  // every admitted call costs exactly its reservation, so exactly `fits` are admitted
  expect(served).toHaveLength(fits);
  for (const r of served) expect(r.data!.createChatCompletion.cost).toBe(formatUsd(cost));
  expect(upstream.calls.length - callsBefore).toBe(fits);

  for (const budgetId of [daily, monthly]) {
    const books = await ledger(t, projectId, budgetId);
    expect(books.spent).toBe(limit); // settled spend <= limit: here it is the limit to the pico-dollar
    expect(books.reserved).toBe(0n);
    expect(books.requests).toBe(fits);
    expect(books.usageCost).toBe(books.spent);
    expect(books.usageRows).toBe(fits);
    expect(books.activeReservations).toBe(0);
  }
  expect(await t.count('reservations', `project_id = $1 AND status = 'SETTLED'`, [projectId])).toBe(fits);

  // Each threshold once, fired by the settle that crossed it (spend of the first call at or past the mark).
  const at = (calls: number) => cost * BigInt(calls);
  expect(await alertsOf(t, daily)).toEqual([
    { alert: 'BUDGET_THRESHOLD 0.5 x1', spent: at(Math.ceil(fits * 0.5)) },
    { alert: 'BUDGET_THRESHOLD 0.75 x1', spent: at(Math.ceil(fits * 0.75)) },
    { alert: 'BUDGET_THRESHOLD 0.9 x1', spent: at(Math.ceil(fits * 0.9)) },
    { alert: 'BUDGET_THRESHOLD 0.95 x1', spent: at(Math.ceil(fits * 0.95)) },
    { alert: 'DAILY_BUDGET_EXCEEDED 1 x1', spent: limit },
    // a run rate that reaches the limit within minutes projects past it: warned once
    { alert: `PROJECTED_OVERRUN - x1`, spent: expect.any(BigInt) as Pico },
  ]);
  expect(await alertsOf(t, monthly)).toEqual([]);

  const status = await t.ok<{ budgetStatus: { spent: string; reserved: string; remaining: string }[] }>(
    'query($id: ID) { budgetStatus(budgetId: $id) { spent reserved remaining } }',
    { id: daily },
    client.key,
  );
  expect(status.budgetStatus).toEqual([{ spent: formatUsd(limit), reserved: '0', remaining: '0' }]);
  return { elapsed };
}

describe('budgets hold exactly under load, across instances, periods and policies', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    upstream.handler = worstCaseReply;
    t = await TestServer.start();
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  it('500 concurrent calls against a budget that fits 50: 50 served, not a cent over, each alert once', async () => {
    const { elapsed } = await stampede([t], upstream, 500, 50);
    expect(elapsed).toBeLessThan(45_000);
  }, 60_000);

  onPostgres(
    'the same with two server processes sharing one database, calls spread over both',
    async () => {
      const second = await TestServer.start(
        { TOLLGATE_SECRET_KEY: t.config.secretKey! },
        { databaseUrl: t.config.databaseUrl },
      );
      try {
        const { elapsed } = await stampede([t, second], upstream, 500, 50);
        expect(elapsed).toBeLessThan(45_000);
      } finally {
        await second.close();
      }
      // the first instance still runs on the shared database, which the second did not drop
      expect(await t.count('projects')).toBeGreaterThan(0);
    },
    90_000,
  );

  describe('policies', () => {
    it('DOWNGRADE serves the call on the cheapest model that fits, charged at that model', async () => {
      const { projectId, admin, client } = await tenant(t, upstream, 'downgrade');
      const asked = { ...CALL, model: 'gpt-4.1', maxTokens: 1000 };
      const gpt = await worstCaseOf(t, client.key, asked);
      const deepseek = await worstCaseOf(t, client.key, { ...asked, model: 'deepseek-chat' });
      const gemini = await worstCaseOf(t, client.key, { ...asked, model: 'gemini-2.5-flash' });
      expect(deepseek < gemini && gemini < gpt).toBe(true);
      // gemini and deepseek both fit; gpt-4.1 does not
      const budget = await t.createBudget(admin, {
        period: 'DAILY',
        limitUsd: formatUsd(gemini + 1n),
        policy: 'DOWNGRADE',
      });
      const before = upstream.calls.length;

      const result = await t.complete(client.key, asked);
      expect(result.errors).toBeUndefined();
      const completion = result.data!.createChatCompletion;
      expect(completion).toMatchObject({
        model: 'deepseek-chat',
        cost: formatUsd(deepseek),
        routing: { modelRequested: 'gpt-4.1', model: 'deepseek-chat', downgraded: true },
      });
      expect(upstream.calls.slice(before).map((c) => c.body.model)).toEqual(['deepseek-chat']);
      const [row] = (await t.app.db.query(
        `SELECT model_requested, model_served, downgraded, cost::text AS cost FROM usage_records WHERE id = $1`,
        [completion.id],
      )) as { model_requested: string; model_served: string; downgraded: boolean; cost: string }[];
      expect(row).toMatchObject({
        model_requested: 'gpt-4.1',
        model_served: 'deepseek-chat',
        downgraded: true,
      });
      expect(parseUsd(row.cost)).toBe(deepseek);
      const books = await ledger(t, projectId, budget);
      expect(books).toMatchObject({
        spent: deepseek,
        reserved: 0n,
        usageCost: deepseek,
        activeReservations: 0,
      });

      // Downgraded calls go on while deepseek-chat fits; then the call is refused, with nothing
      // more charged or held.
      let served = 1;
      for (;;) {
        const next = await t.complete(client.key, asked);
        if (next.errors) {
          expect(next.errors[0].extensions?.code).toBe('BUDGET_EXCEEDED');
          break;
        }
        expect(next.data!.createChatCompletion).toMatchObject({
          model: 'deepseek-chat',
          cost: formatUsd(deepseek),
        });
        served++;
        expect(served).toBeLessThan(100);
      }
      expect(BigInt(served)).toBe((gemini + 1n) / deepseek);
      expect(await ledger(t, projectId, budget)).toEqual({
        spent: deepseek * BigInt(served),
        reserved: 0n,
        requests: served,
        usageCost: deepseek * BigInt(served),
        usageRows: served,
        activeReservations: 0,
      });
    });

    it('REJECT refuses with currentSpend, projectedSpend, budgetLimit and shortfall; nothing charged or held', async () => {
      const { projectId, admin, client } = await tenant(t, upstream, 'reject');
      const cost = await worstCaseOf(t, client.key, CALL);
      const limit = cost + cost / 2n;
      const budget = await t.createBudget(admin, { period: 'DAILY', limitUsd: formatUsd(limit) });

      const first = await t.complete(client.key, CALL);
      expect(first.errors).toBeUndefined();
      const before = upstream.calls.length;
      const refused = await t.complete(client.key, CALL);
      expect(refused.data).toBeNull();
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors![0].extensions).toMatchObject({
        code: 'BUDGET_EXCEEDED',
        budgetId: budget,
        period: 'DAILY',
        scope: 'PROJECT',
        currentSpend: formatUsd(cost),
        projectedSpend: formatUsd(cost * 2n),
        budgetLimit: formatUsd(limit),
        shortfall: formatUsd(cost * 2n - limit),
      });
      expect(upstream.calls.length).toBe(before);
      expect(await ledger(t, projectId, budget)).toEqual({
        spent: cost,
        reserved: 0n,
        requests: 1,
        usageCost: cost,
        usageRows: 1,
        activeReservations: 0,
      });
      expect(await t.count('reservations', 'project_id = $1', [projectId])).toBe(1);
    });

    it('a REJECT budget that does not fit refuses the call even when a DOWNGRADE budget is checked first', async () => {
      const { projectId, admin, client } = await tenant(t, upstream, 'reject-wins');
      const asked = { ...CALL, model: 'gpt-4.1', maxTokens: 1000 };
      const gpt = await worstCaseOf(t, client.key, asked);
      const deepseek = await worstCaseOf(t, client.key, { ...asked, model: 'deepseek-chat' });
      const fitsOnlyDeepseek = formatUsd(deepseek + 1n);
      expect(deepseek + 1n < gpt).toBe(true);
      const downgrade = await t.createBudget(admin, {
        period: 'DAILY',
        limitUsd: fitsOnlyDeepseek,
        policy: 'DOWNGRADE',
      });
      const reject = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: fitsOnlyDeepseek });
      // Budgets are locked in id order: put the DOWNGRADE one first, whatever ids they were given.
      const first = '00000000-0000-4000-8000-000000000000';
      const last = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
      // (their empty current-window counters, made at creation, go first: they reference the old ids)
      await t.app.db.query('DELETE FROM budget_counters WHERE budget_id = ANY($1)', [[downgrade, reject]]);
      await t.app.db.query('UPDATE budgets SET id = $1 WHERE id = $2', [first, downgrade]);
      await t.app.db.query('UPDATE budgets SET id = $1 WHERE id = $2', [last, reject]);
      const before = upstream.calls.length;

      const result = await t.complete(client.key, asked);
      expect(result.errors?.[0].extensions).toMatchObject({
        code: 'BUDGET_EXCEEDED',
        budgetId: last,
        period: 'MONTHLY',
        budgetLimit: fitsOnlyDeepseek,
      });
      expect(upstream.calls.length).toBe(before);
      for (const id of [first, last]) {
        expect(await ledger(t, projectId, id)).toMatchObject({ spent: 0n, reserved: 0n, usageRows: 0 });
      }
    });
  });

  describe('reservations', () => {
    // Real Postgres only: embedded PGlite runs one transaction at a time, so nothing there can deadlock.
    onPostgres(
      'sweeps expired holds in the lock order reserve uses, so a concurrent reserve cannot deadlock it',
      async () => {
        const { projectId, admin, client: k1 } = await tenant(t, upstream, 'sweep-order');
        const k2 = await t.createKey(admin, 'CLIENT', 'k2');
        // ids chosen so that k2's budget < the project's < k1's: R1 holds {P, K1}, R2 holds {K2, P}
        const ids = {
          K2: '10000000-0000-4000-8000-000000000000',
          P: '50000000-0000-4000-8000-000000000000',
          K1: '90000000-0000-4000-8000-000000000000',
        };
        const made = {
          K2: await t.createBudget(admin, { apiKeyId: k2.id, period: 'DAILY', limitUsd: '10' }),
          P: await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' }),
          K1: await t.createBudget(admin, { apiKeyId: k1.id, period: 'DAILY', limitUsd: '10' }),
        };
        for (const name of ['K2', 'P', 'K1'] as const) {
          await t.app.db.query('DELETE FROM budget_counters WHERE budget_id = $1', [made[name]]);
          await t.app.db.query('UPDATE budgets SET id = $1 WHERE id = $2', [ids[name], made[name]]);
        }
        const { reservations } = t.app.services;
        const r1 = await reservations.reserve(projectId, k1.id, 'r1', parseUsd('0.1'));
        const r2 = await reservations.reserve(projectId, k2.id, 'r2', parseUsd('0.1'));
        // both died; R1 is the older, so a sweep comes to it first
        await t.app.db.query(
          `UPDATE reservations SET expires_at = now() - interval '2 minutes' WHERE id = $1`,
          [r1.id],
        );
        await t.app.db.query(
          `UPDATE reservations SET expires_at = now() - interval '1 minute' WHERE id = $1`,
          [r2.id],
        );

        // A reserve by k2 in flight: it has locked K2's counter and will lock P's next (id order).
        const reserving = t.app.db.createQueryRunner();
        await reserving.connect();
        try {
          await reserving.startTransaction();
          const lock = (id: string) =>
            reserving.query('UPDATE budget_counters SET updated_at = now() WHERE budget_id = $1', [id]);
          await lock(ids.K2);
          const sweeping = reservations.sweep().then(
            (n) => n,
            (e: Error) => e.message,
          );
          await new Promise((r) => setTimeout(r, 300)); // the sweep is now waiting for K2
          // Taking R1's holds first (P, then K1) and R2's next (K2...) would hold P here: a deadlock.
          const reserved = await lock(ids.P).then(
            () => 'locked',
            (e: Error) => e.message,
          );
          expect(reserved).toBe('locked');
          await reserving.commitTransaction();
          expect(await sweeping).toBe(2);
        } finally {
          if (reserving.isTransactionActive) await reserving.rollbackTransaction();
          await reserving.release();
        }
        for (const id of Object.values(ids)) {
          expect(await ledger(t, projectId, id)).toMatchObject({ reserved: 0n, activeReservations: 0 });
        }
      },
    );

    /**
     * Sends `first` while another connection holds the counter row of `budgetId`, so its batch waits in
     * the database; whatever `queue` submits meanwhile waits behind it, and goes in the next batch.
     * Returns what `queue`'s calls came to, and the items of each batch the ledger sent ("op" of each).
     */
    async function behindABlockedBatch(
      budgetId: string,
      first: () => Promise<unknown>,
      queue: () => Promise<Promise<unknown>[]>,
    ) {
      // the ledger's batches go to TypeORM's pg pool as a named statement
      const pool = (t.app.db.driver as PostgresDriver).master as Pool;
      const spy = jest.spyOn(pool, 'query');
      const batches = () =>
        (spy.mock.calls as unknown[][])
          .map(([config]) => config as { name?: string; values?: unknown[] })
          .filter((config) => config.name === 'tollgate_ledger_batch')
          .map((config) => (JSON.parse(String(config.values![0])) as { op: string }[]).map((i) => i.op));
      const blocker = t.app.db.createQueryRunner();
      await blocker.connect();
      try {
        await blocker.startTransaction();
        await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = $1 FOR UPDATE', [budgetId]);
        const started = first();
        await eventually(batches, (sent) => sent.length === 1);
        const queued = await queue();
        await new Promise((r) => setTimeout(r, 100)); // all of it is waiting in the batcher
        expect(batches()).toHaveLength(1);
        await blocker.commitTransaction();
        await started;
        const results = await Promise.all(queued);
        return { results, batches: batches() };
      } finally {
        if (blocker.isTransactionActive) await blocker.rollbackTransaction();
        await blocker.release();
        spy.mockRestore();
      }
    }

    // Real Postgres only: the embedded database has one connection, which the blocker would take.
    onPostgres(
      'a batch runs its settles before its reserves, so what a settle frees is free to them',
      async () => {
        const { projectId, admin, client } = await tenant(t, upstream, 'batch-order');
        const budget = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '1' });
        const { reservations } = t.app.services;
        const a = await reservations.reserve(projectId, client.id, 'a', parseUsd('0.6'));
        const { results, batches } = await behindABlockedBatch(
          budget,
          () => reservations.reserve(projectId, client.id, 'c', parseUsd('0.05')),
          async () => {
            // B is sent before A's settle: in that order it would not fit (0.6 + 0.05 + 0.8 > 1)
            const b = reservations.reserve(projectId, client.id, 'b', parseUsd('0.8')).then(
              (hold) => hold.id,
              (e: Error) => e.message,
            );
            await new Promise((r) => setTimeout(r, 50));
            const settled = reservations.settleRecorded(
              a,
              { cost: parseUsd('0.1'), promptTokens: 100, completionTokens: 50, countRequest: true },
              usageJson(usageRow(projectId, client.id, 'a', parseUsd('0.1'))),
            );
            return [b, settled];
          },
        );
        const [b, settled] = results as [string, Awaited<ReturnType<typeof reservations.settleRecorded>>];
        expect(b).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
        expect(settled?.counters.map((x) => x.spent)).toEqual([parseUsd('0.1')]);
        expect(batches).toEqual([['reserve'], ['reserve', 'settle']]);
        expect(await ledger(t, projectId, budget)).toMatchObject({
          spent: parseUsd('0.1'),
          reserved: parseUsd('0.85'),
          usageCost: parseUsd('0.1'),
          usageRows: 1,
          activeReservations: 2,
        });
      },
    );

    onPostgres('an item that fails in a batch fails alone: the others in its batch are written', async () => {
      const { projectId, admin, client } = await tenant(t, upstream, 'batch-bad-item');
      const budget = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '1' });
      const { reservations } = t.app.services;
      const reserve = (id: string) => reservations.reserve(projectId, client.id, id, parseUsd('0.1'));
      const noBudget: Hold = { id: null, amount: 0n, budgets: [] };
      const charge = { cost: 0n, promptTokens: 1, completionTokens: 1, countRequest: true };
      const { results, batches } = await behindABlockedBatch(
        budget,
        () => reserve('first'),
        async () => [
          reserve('x'),
          // a usage record without a project: the database refuses it (NOT NULL)
          reservations.settleRecorded(noBudget, charge, { requestId: 'bad' }).then(
            () => 'written',
            (e: Error) => e.message,
          ),
          reserve('y'),
        ],
      );
      const [x, bad, y] = results;
      expect(bad).toMatch(/null value/);
      expect([typeof x, typeof y]).toEqual(['object', 'object']);
      // the batch of three failed, then each ran alone
      expect(batches.map((ops) => ops.length)).toEqual([1, 3, 1, 1, 1]);
      expect(await ledger(t, projectId, budget)).toMatchObject({
        reserved: parseUsd('0.3'),
        usageRows: 0,
        activeReservations: 3,
      });
      expect(await t.count('usage_records', `request_id = 'bad'`)).toBe(0);
    });

    onPostgres(
      'a batch stuck in the database is given up after its timeout, and the next one goes',
      async () => {
        const { projectId, admin, client } = await tenant(t, upstream, 'batch-timeout');
        const budget = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '1' });
        // a ledger of its own on the same database, with a 300 ms batch timeout
        const reservations = new ReservationService(t.app.db, 60_000, 300);
        await reservations.reserve(projectId, client.id, 'warm', parseUsd('0.1')); // counter exists
        const blocker = t.app.db.createQueryRunner();
        await blocker.connect();
        try {
          await blocker.startTransaction();
          await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = $1 FOR UPDATE', [budget]);
          const started = Date.now();
          const stuck = await reservations.reserve(projectId, client.id, 'stuck', parseUsd('0.1')).then(
            () => 'reserved',
            (e: Error) => e.message,
          );
          expect(stuck).toBe('Query read timeout');
          expect(Date.now() - started).toBeLessThan(5_000);
          await blocker.commitTransaction();
        } finally {
          if (blocker.isTransactionActive) await blocker.rollbackTransaction();
          await blocker.release();
        }
        const next = await reservations.reserve(projectId, client.id, 'next', parseUsd('0.1'));
        expect(next.id).toEqual(expect.any(String));
        await eventually(
          () =>
            t.count(
              'pg_stat_activity',
              `query LIKE '%tollgate_ledger_batch%' AND state = 'active' AND pid <> pg_backend_pid()`,
            ),
          (n) => n === 0,
        );
        // The stuck statement still committed once the lock came free (its client had given up): a hold
        // nobody will settle, like a crashed call's, which the sweeper gives back after its TTL.
        expect(await ledger(t, projectId, budget)).toMatchObject({
          reserved: parseUsd('0.3'),
          activeReservations: 3,
        });
        await t.app.db.query(
          `UPDATE reservations SET expires_at = now() - interval '1 second' WHERE request_id = 'stuck' AND project_id = $1`,
          [projectId],
        );
        expect(await t.app.services.reservations.sweep()).toBe(1);
        expect(await ledger(t, projectId, budget)).toMatchObject({
          reserved: parseUsd('0.2'),
          activeReservations: 2,
        });
      },
    );

    it('settles a call whose budget was deleted while it was in flight, charging the budgets that remain', async () => {
      const { projectId, admin, client } = await tenant(t, upstream, 'deleted-mid-call');
      const doomed = await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
      const kept = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '10' });
      const { reservations, usage } = t.app.services;
      const hold = await reservations.reserve(projectId, client.id, 'in-flight', parseUsd('0.5'));
      expect(hold.budgets.map((b) => b.id).sort()).toEqual([doomed, kept].sort());
      await t.ok('mutation($id: ID!) { deleteBudget(id: $id) }', { id: doomed }, admin);

      const counters = await t.app.db.transaction(async (em) => {
        const settled = await reservations.settle(em, hold, {
          cost: parseUsd('0.2'),
          promptTokens: 10,
          completionTokens: 20,
          countRequest: true,
        });
        await usage.insert(em, usageRow(projectId, client.id, 'in-flight', parseUsd('0.2')));
        return settled;
      });
      expect(counters.map((c) => c.budget.id)).toEqual([kept]);
      expect(await ledger(t, projectId, kept)).toMatchObject({
        spent: parseUsd('0.2'),
        reserved: 0n,
        usageCost: parseUsd('0.2'),
        activeReservations: 0,
      });
    });
  });

  it('fires a threshold passed without a crossing (limit lowered mid-period) at the next settle, once', async () => {
    const { projectId, admin, client } = await tenant(t, upstream, 'lowered-limit');
    const budget = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '1', thresholds: [0.5, 0.75] });
    const { reservations, alerts } = t.app.services;
    const spend = async (usd: string) => {
      const hold = await reservations.reserve(projectId, client.id, null, parseUsd(usd));
      const fired = await t.app.db.transaction(async (em) => {
        const counters = await reservations.settle(em, hold, {
          cost: parseUsd(usd),
          promptTokens: 1,
          completionTokens: 1,
          countRequest: true,
        });
        return alerts.evaluate(em, projectId, counters, new Date());
      });
      return fired.filter((a) => a.type === 'BUDGET_THRESHOLD').map((a) => a.threshold);
    };

    expect(await spend('0.6')).toEqual([0.5]);
    expect(await spend('0.01')).toEqual([]);
    // $0.61 of $0.70 is 87%: past 75% although no call crossed it
    await t.ok(
      'mutation($id: ID!, $input: UpdateBudgetInput!) { updateBudget(id: $id, input: $input) { id } }',
      { id: budget, input: { limitUsd: '0.7' } },
      admin,
    );
    expect(await spend('0.01')).toEqual([0.75]);
    expect(await spend('0.01')).toEqual([]);
    const rows = (await t.app.db.query(
      `SELECT threshold::float8 AS threshold, count(*)::int AS n FROM alerts
        WHERE budget_id = $1 AND type = 'BUDGET_THRESHOLD' GROUP BY 1 ORDER BY 1`,
      [budget],
    )) as { threshold: number; n: number }[];
    expect(rows).toEqual([
      { threshold: 0.5, n: 1 },
      { threshold: 0.75, n: 1 },
    ]);
  });

  it('lands calls just before and just after local midnight in the right daily and monthly periods', async () => {
    const { projectId, admin, client } = await tenant(t, upstream, 'periods');
    const budgets = {
      nyDay: await t.createBudget(admin, { period: 'DAILY', limitUsd: '100', timeZone: 'America/New_York' }),
      nyMonth: await t.createBudget(admin, {
        period: 'MONTHLY',
        limitUsd: '100',
        timeZone: 'America/New_York',
      }),
      inDay: await t.createBudget(admin, { period: 'DAILY', limitUsd: '100', timeZone: 'Asia/Kolkata' }),
      inMonth: await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '100', timeZone: 'Asia/Kolkata' }),
    };
    const { reservations } = t.app.services;
    // Each call charges a distinct power of two (in micro-dollars), so every sum names its calls.
    const calls = {
      nyBefore: { at: '2024-02-01T04:59:59.999Z', cost: 1n }, // NY Jan 31 23:59:59.999; Kolkata Feb 1 10:29
      nyAfter: { at: '2024-02-01T05:00:00.000Z', cost: 2n }, // NY Feb 1 00:00
      inBefore: { at: '2024-01-31T18:29:59.999Z', cost: 4n }, // Kolkata Jan 31 23:59:59.999; NY Jan 31 13:29
      inAfter: { at: '2024-01-31T18:30:00.000Z', cost: 8n }, // Kolkata Feb 1 00:00
      nyDst: { at: '2024-03-10T07:00:00.000Z', cost: 16n }, // NY Mar 10 03:00 EDT, an hour after the jump
    };
    const micro = (n: bigint) => n * 1_000_000n;
    const holds: Record<string, Hold> = {};
    for (const [name, call] of Object.entries(calls)) {
      holds[name] = await reservations.reserve(
        projectId,
        client.id,
        name,
        micro(call.cost),
        new Date(call.at),
      );
    }
    const startOf = (name: keyof typeof calls, budget: string) =>
      holds[name].budgets.find((b) => b.id === budget)!.periodStart.toISOString();
    expect(startOf('nyBefore', budgets.nyDay)).toBe('2024-01-31T05:00:00.000Z');
    expect(startOf('nyAfter', budgets.nyDay)).toBe('2024-02-01T05:00:00.000Z');
    expect(startOf('inBefore', budgets.inMonth)).toBe('2023-12-31T18:30:00.000Z');
    expect(startOf('inAfter', budgets.inMonth)).toBe('2024-01-31T18:30:00.000Z');

    // While held, each period carries exactly its own calls' reservations.
    const reservedNow = await countersOf(t, budgets.nyDay, 'reserved');
    expect(reservedNow).toEqual({
      '2024-01-31T05:00:00.000Z': micro(1n + 4n + 8n),
      '2024-02-01T05:00:00.000Z': micro(2n),
      '2024-03-10T05:00:00.000Z': micro(16n),
    });

    // Reserved "in the past", they still expire on the real clock: a sweep now finds none of them.
    expect(await reservations.sweep()).toBe(0);

    for (const [name, call] of Object.entries(calls)) {
      await t.app.db.transaction((em) =>
        reservations.settle(em, holds[name], {
          cost: micro(call.cost),
          promptTokens: 1,
          completionTokens: 1,
          countRequest: true,
        }),
      );
    }
    expect(await countersOf(t, budgets.nyDay, 'spent')).toEqual({
      '2024-01-31T05:00:00.000Z': micro(1n + 4n + 8n),
      '2024-02-01T05:00:00.000Z': micro(2n),
      '2024-03-10T05:00:00.000Z': micro(16n),
    });
    expect(await countersOf(t, budgets.nyMonth, 'spent')).toEqual({
      '2024-01-01T05:00:00.000Z': micro(1n + 4n + 8n),
      '2024-02-01T05:00:00.000Z': micro(2n),
      '2024-03-01T05:00:00.000Z': micro(16n),
    });
    expect(await countersOf(t, budgets.inDay, 'spent')).toEqual({
      '2024-01-30T18:30:00.000Z': micro(4n),
      '2024-01-31T18:30:00.000Z': micro(1n + 2n + 8n),
      '2024-03-09T18:30:00.000Z': micro(16n),
    });
    expect(await countersOf(t, budgets.inMonth, 'spent')).toEqual({
      '2023-12-31T18:30:00.000Z': micro(4n),
      '2024-01-31T18:30:00.000Z': micro(1n + 2n + 8n),
      '2024-02-29T18:30:00.000Z': micro(16n),
    });
    for (const id of Object.values(budgets)) {
      expect(Object.values(await countersOf(t, id, 'reserved')).every((r) => r === 0n)).toBe(true);
    }
    expect(await t.count('reservations', `project_id = $1 AND status = 'SETTLED'`, [projectId])).toBe(5);
  });
});

describe('the sweeper releases reservations of calls that died', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    upstream.handler = worstCaseReply;
    t = await TestServer.start({ TOLLGATE_RESERVATION_TTL_MS: '1000', TOLLGATE_SWEEP_INTERVAL_MS: '100' });
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  it('gives back a hold that was never settled, after its TTL; counters then equal the usage rows', async () => {
    const { projectId, admin, client } = await tenant(t, upstream, 'sweeper');
    const cost = await worstCaseOf(t, client.key, CALL);
    const limit = cost * 4n;
    const budget = await t.createBudget(admin, { period: 'DAILY', limitUsd: formatUsd(limit) });
    for (let i = 0; i < 2; i++) expect((await t.complete(client.key, CALL)).errors).toBeUndefined();

    // A call that reserved and was killed before settling: it holds the last two calls' worth.
    const killed = await t.app.services.reservations.reserve(projectId, client.id, 'killed', cost * 2n);
    expect(killed.id).not.toBeNull();
    expect(await ledger(t, projectId, budget)).toMatchObject({ spent: cost * 2n, reserved: cost * 2n });
    const blocked = await t.complete(client.key, CALL);
    expect(blocked.errors?.[0].extensions?.code).toBe('BUDGET_EXCEEDED');

    const released = await eventually(
      () => ledger(t, projectId, budget),
      (l) => l.reserved === 0n,
      5_000,
    );
    expect(released).toEqual({
      spent: cost * 2n,
      reserved: 0n,
      requests: 2,
      usageCost: cost * 2n,
      usageRows: 2,
      activeReservations: 0,
    });
    const [row] = (await t.app.db.query('SELECT status, closed_at FROM reservations WHERE id = $1', [
      killed.id,
    ])) as { status: string; closed_at: Date | null }[];
    expect(row.status).toBe('RELEASED');
    expect(row.closed_at).not.toBeNull();
    // the released room is usable again
    expect((await t.complete(client.key, CALL)).errors).toBeUndefined();
    // and sweeping again finds nothing
    expect(await t.app.services.reservations.sweep()).toBe(0);
  });

  it('charges a slow call that settles after the sweeper released its hold, without releasing twice', async () => {
    const { projectId, admin, client } = await tenant(t, upstream, 'slow-call');
    const budget = await t.createBudget(admin, { period: 'DAILY', limitUsd: '1' });
    const { reservations, usage } = t.app.services;
    const hold = await reservations.reserve(projectId, client.id, 'slow', parseUsd('0.3'));
    await eventually(
      () => t.count('reservations', `id = $1 AND status = 'RELEASED'`, [hold.id]),
      (n) => n === 1,
      5_000,
    );
    expect(await ledger(t, projectId, budget)).toMatchObject({ spent: 0n, reserved: 0n });

    const counters = await t.app.db.transaction(async (em) => {
      const settled = await reservations.settle(em, hold, {
        cost: parseUsd('0.25'),
        promptTokens: 100,
        completionTokens: 50,
        countRequest: true,
      });
      await usage.insert(em, usageRow(projectId, client.id, 'slow', parseUsd('0.25')));
      return settled;
    });
    expect(counters.map((c) => [c.spent, c.reserved])).toEqual([[parseUsd('0.25'), 0n]]);
    expect(await ledger(t, projectId, budget)).toEqual({
      spent: parseUsd('0.25'),
      reserved: 0n,
      requests: 1,
      usageCost: parseUsd('0.25'),
      usageRows: 1,
      activeReservations: 0,
    });
    // settling again changes nothing
    const again = await t.app.db.transaction((em) =>
      reservations.settle(em, hold, {
        cost: parseUsd('0.25'),
        promptTokens: 1,
        completionTokens: 1,
        countRequest: true,
      }),
    );
    expect(again).toEqual([]);
    expect((await ledger(t, projectId, budget)).spent).toBe(parseUsd('0.25'));
  });
});

/** A budget's counters by period start: spent or reserved. */
async function countersOf(t: TestServer, budgetId: string, column: 'spent' | 'reserved') {
  const rows = (await t.app.db.query(
    // (requests = 0: the empty counter a budget gets for the window it is created in is not a period with calls)
    `SELECT period_start, ${column}::text AS amount FROM budget_counters WHERE budget_id = $1 AND (requests > 0 OR reserved > 0)
      ORDER BY period_start`,
    [budgetId],
  )) as { period_start: Date; amount: string }[];
  return Object.fromEntries(rows.map((r) => [new Date(r.period_start).toISOString(), parseUsd(r.amount)]));
}

/** The usage record the completion pipeline writes next to a settle. */
function usageRow(projectId: string, apiKeyId: string, requestId: string, cost: Pico) {
  return {
    projectId,
    apiKeyId,
    requestId,
    modelRequested: 'deepseek-chat',
    modelServed: 'deepseek-chat',
    provider: 'upstream',
    routeTier: null,
    promptTokens: 100,
    completionTokens: 50,
    cost,
    priced: true,
    gatewayLatencyMs: 1,
    upstreamLatencyMs: 1,
    attempts: 1,
    outcome: 'SUCCESS' as const,
    errorCode: null,
    fallbacks: [],
    downgraded: false,
  };
}

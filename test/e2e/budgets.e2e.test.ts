import { formatUsd, parseUsd, type Pico } from '../../src/shared/money';
import { addBillingCatalog, clearOfMidnight, ledger, worstCaseOf, worstCaseReply } from '../support/billing';
import { FakeUpstream } from '../support/fake-upstream';
import { TestServer, user, type GqlResult } from '../support/harness';

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
async function stampede(
  servers: [TestServer, ...TestServer[]],
  upstream: FakeUpstream,
  count: number,
  fits: number,
) {
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
    Array.from({ length: count }, (_, i) => servers[i % servers.length]!.complete(client.key, CALL)),
  );
  const elapsed = Date.now() - started;

  const served = results.filter((r) => r.data?.createChatCompletion);
  const refused = results.filter((r) => r.errors?.length);
  expect(served.length + refused.length).toBe(count);
  expect(refused.map((r) => r.errors![0]!.extensions?.code)).toEqual(refused.map(() => 'BUDGET_EXCEEDED'));
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
      expect(parseUsd(row!.cost)).toBe(deepseek);
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
          expect(next.errors[0]!.extensions?.code).toBe('BUDGET_EXCEEDED');
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
      expect(refused.errors![0]!.extensions).toMatchObject({
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
      expect(result.errors?.[0]?.extensions).toMatchObject({
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

  it('fires a threshold passed without a crossing (limit lowered mid-period) at the next sweep, once', async () => {
    const { projectId, admin, client } = await tenant(t, upstream, 'lowered-limit');
    const cost = await worstCaseOf(t, client.key, CALL);
    // Ten calls fit; the first six pass 50% (at the sixth) but not 75%.
    const budget = await t.createBudget(admin, {
      period: 'MONTHLY',
      limitUsd: formatUsd(cost * 10n),
      thresholds: [0.5, 0.75],
    });
    for (let i = 0; i < 6; i++) expect((await t.complete(client.key, CALL)).errors).toBeUndefined();
    const thresholds = async () =>
      (await alertsOf(t, budget)).map((a) => a.alert).filter((a) => a.startsWith('BUDGET_THRESHOLD'));
    expect(await thresholds()).toEqual(['BUDGET_THRESHOLD 0.5 x1']);
    // $6 of a $7 limit is 86%: past 75% although no call crossed it. The sweep fires it, once.
    await t.ok(
      'mutation($id: ID!, $input: UpdateBudgetInput!) { updateBudget(id: $id, input: $input) { id } }',
      { id: budget, input: { limitUsd: formatUsd(cost * 7n) } },
      admin,
    );
    await t.app.services.sweeper.sweepOnce();
    await t.app.services.sweeper.sweepOnce();
    expect(await thresholds()).toEqual(['BUDGET_THRESHOLD 0.5 x1', 'BUDGET_THRESHOLD 0.75 x1']);
    const books = await ledger(t, projectId, budget);
    expect(books.spent).toBe(cost * 6n);
  });
});

import { formatUsd, type Pico } from '../../src/shared/money';
import {
  alertsOf,
  billingTenant,
  clearOfMidnight,
  ledger,
  worstCaseOf,
  worstCaseReply,
} from '../support/billing';
import { FakeUpstream } from '../support/fake-upstream';
import { TestServer, user, type GqlResult } from '../support/harness';

const onPostgres = process.env.DATABASE_URL ? it : it.skip;
const CALL = { model: 'deepseek-chat', messages: user('How many tokens is this?'), maxTokens: 200 };

type Completion = GqlResult<{ createChatCompletion: Record<string, unknown> }>;

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
  const { projectId, admin, client } = await billingTenant(t, upstream, `stampede-${servers.length}`);
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

describe('budgets hold exactly under load, on one instance and across two', () => {
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
});

import { TestServer, user } from '../support/harness';

describe('budgets created mid-period, projections, alert history bounds', () => {
  let t: TestServer;
  let admin: string;

  beforeAll(async () => {
    t = await TestServer.start();
    ({ adminKey: admin } = await t.createProject('admin'));
    await t.addCatalog(admin);
  }, 120_000);
  afterAll(() => t.close());

  it('a budget added to a key that already spent starts from that spend', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'spender');
    const other = await t.createKey(admin, 'CLIENT', 'other');
    const costs: string[] = [];
    for (const key of [client.key, client.key, other.key]) {
      const r = await t.complete(key, { model: 'gpt-4.1', messages: user('spend'), maxTokens: 50 });
      expect(r.errors).toBeUndefined();
      costs.push(r.data!.createChatCompletion.cost as string);
    }
    const budgetId = await t.createBudget(admin, { apiKeyId: client.id, period: 'DAILY', limitUsd: '1' });
    const status = await t.ok<{ budgetStatus: { spent: string; requests: number; reserved: string }[] }>(
      'query($id: ID) { budgetStatus(budgetId: $id) { spent requests reserved } }',
      { id: budgetId },
      client.key,
    );
    // the key's two calls, not the other key's
    const expected = (Number(costs[0]) + Number(costs[1])).toFixed(12).replace(/0+$/, '');
    expect(status.budgetStatus).toEqual([{ spent: expected, requests: 2, reserved: '0' }]);

    // and the next call adds to it
    const next = await t.complete(client.key, { model: 'gpt-4.1', messages: user('spend'), maxTokens: 50 });
    const after = await t.ok<{ budgetStatus: { requests: number }[] }>(
      'query($id: ID) { budgetStatus(budgetId: $id) { requests } }',
      { id: budgetId },
      client.key,
    );
    expect(next.errors).toBeUndefined();
    expect(after.budgetStatus[0]!.requests).toBe(3);
  });

  it('spendProjection shows the projection, days elapsed and the rate used, without absurd figures', async () => {
    const data = await t.ok<{
      spendProjection: {
        spent: string;
        projectedSpend: string;
        ratePerDay: string;
        daysElapsed: number;
        daysInPeriod: number;
        overrun: boolean;
      }[];
    }>(
      '{ spendProjection { spent projectedSpend ratePerDay daysElapsed daysInPeriod overrun budget { period } } }',
      {},
      admin,
    );
    expect(data.spendProjection).toHaveLength(1);
    const p = data.spendProjection[0]!;
    expect(p.daysInPeriod).toBe(1);
    expect(p.daysElapsed).toBeGreaterThanOrEqual(0);
    expect(p.daysElapsed).toBeLessThanOrEqual(1);
    expect(Number(p.projectedSpend)).toBeGreaterThanOrEqual(Number(p.spent));
    // early in a day the elapsed time is floored at an hour or more: at most 24x the spend so far
    expect(Number(p.projectedSpend)).toBeLessThanOrEqual(Number(p.spent) * 24 + 1e-12);
    expect(Number.isFinite(Number(p.ratePerDay))).toBe(true);
  });

  it('refuses limits and prices too large for their columns, naming the field', async () => {
    const budget = await t.gql(
      'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }',
      { i: { period: 'DAILY', limitUsd: '99999999999999999999999999999' } },
      admin,
    );
    expect(budget.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'limitUsd' });
    const model = await t.gql(
      'mutation($i: ModelInput!) { upsertModel(input: $i) { id } }',
      { i: { name: 'pricey', provider: 'upstream', promptPrice: '123456789012345', completionPrice: '1' } },
      admin,
    );
    expect(model.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'promptPrice' });
  });

  it('refuses alert history ranges out of bounds', async () => {
    for (const days of [0, -5, 2_000_000_000]) {
      const r = await t.gql('query($d: Int!) { alerts(days: $d) { id } }', { d: days }, admin);
      expect(r.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });
});

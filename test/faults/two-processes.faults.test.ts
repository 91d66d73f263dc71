import crypto from 'node:crypto';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { FakeUpstream } from '../support/fake-upstream';
import { worstCaseReply } from '../support/billing';
import { ChildServer, COMPLETE, gql, ok, OPERATOR_KEY } from './support';

const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;

withPostgres('two server processes sharing one database', () => {
  let database: TestDatabase;
  let upstream: FakeUpstream;
  const servers: ChildServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    upstream = await new FakeUpstream().start();
    upstream.handler = worstCaseReply; // every call costs exactly what it reserved
    const env = { DATABASE_URL: database.url!, TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex') };
    servers.push(new ChildServer(env), new ChildServer(env));
    await servers[0]!.start(); // migrates first
    await servers[1]!.start();
  }, 120_000);
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await upstream.stop();
    await database.drop();
  });

  it('500 concurrent calls spread over both against a budget that fits 50: not a cent over, each alert once', async () => {
    const [one, two] = [await servers[0]!.url(), await servers[1]!.url()];
    const { createProject } = await ok<{
      createProject: { project: { id: string }; adminKey: { key: string } };
    }>(one, 'mutation { createProject(name: "two") { project { id } adminKey { key } } }', {}, OPERATOR_KEY);
    const admin = createProject.adminKey.key;
    await ok(
      one,
      'mutation($i: CreateProviderInput!) { createProvider(input: $i) { id } }',
      {
        i: {
          name: 'up',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: upstream.baseUrl,
          upstreamKeys: ['sk-x'],
          maxConcurrency: 1000,
        },
      },
      admin,
    );
    await ok(
      one,
      'mutation($i: ModelInput!) { upsertModel(input: $i) { id } }',
      {
        i: {
          name: 'deepseek-chat',
          provider: 'up',
          promptPrice: '0.14',
          completionPrice: '0.42',
          promptMargin: 0, // the fake upstream counts prompts exactly as our tokenizer does
          tiers: ['SIMPLE'],
        },
      },
      admin,
    );
    const client = (
      await ok<{ createApiKey: { key: string } }>(
        one,
        'mutation { createApiKey(input: { name: "c", role: CLIENT }) { key } }',
        {},
        admin,
      )
    ).createApiKey.key;
    const input = {
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'same prompt' }],
      maxTokens: 100,
    };
    const { estimateCost } = await ok<{ estimateCost: { worstCaseCost: string } }>(
      one,
      'query($i: EstimateCostInput!) { estimateCost(input: $i) { worstCaseCost } }',
      { i: input },
      client,
    );
    const cost = Number(estimateCost.worstCaseCost);
    const limit = (cost * 50).toFixed(12);
    await ok(
      one,
      'mutation($i: CreateBudgetInput!) { createBudget(input: $i) { id } }',
      { i: { period: 'DAILY', limitUsd: limit } },
      admin,
    );

    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        gql<{ createChatCompletion: { cost: string } }>(i % 2 ? two : one, COMPLETE, { i: input }, client),
      ),
    );
    const served = results.filter((r) => r.data?.createChatCompletion);
    const refused = results.filter((r) => r.errors?.[0]?.extensions?.code === 'BUDGET_EXCEEDED');
    expect(served).toHaveLength(50);
    expect(refused).toHaveLength(450);

    const db = new Client({ connectionString: database.url });
    await db.connect();
    try {
      const counters = await db.query<{ spent: string; reserved: string; limit: string; usage: string }>(
        `SELECT c.spent::text AS spent, c.reserved::text AS reserved, b.limit_usd::text AS limit,
                (SELECT sum(cost)::text FROM usage_records) AS usage
           FROM budget_counters c JOIN budgets b ON b.id = c.budget_id`,
      );
      expect(counters.rows).toHaveLength(1);
      const row = counters.rows[0]!;
      expect(row.spent).toBe(row.limit); // the limit to the pico-dollar, never over
      expect(row.reserved).toBe('0.000000000000');
      expect(row.usage).toBe(row.spent);
      const alerts = await db.query<{ type: string; threshold: string | null; n: number }>(
        `SELECT type, threshold::text AS threshold, count(*)::int AS n FROM alerts GROUP BY 1, 2 ORDER BY 1, 2`,
      );
      for (const a of alerts.rows) expect(a.n).toBe(1);
      expect(alerts.rows.filter((a) => a.type === 'BUDGET_THRESHOLD')).toHaveLength(4);
      expect(alerts.rows.some((a) => a.type === 'DAILY_BUDGET_EXCEEDED')).toBe(true);
    } finally {
      await db.end();
    }
  });
});

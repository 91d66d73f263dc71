import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { eventually, subscribed, TestServer, user } from '../support/harness';

describe('a completion end to end (real HTTP, real graphql-ws, real database)', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let admin: string;
  let client: { id: string; key: string };

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
    ({ adminKey: admin } = await t.createProject('acme'));
    client = await t.createKey(admin, 'CLIENT');
    await t.addCatalog(admin, { baseUrl: upstream.baseUrl });
    await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
    await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '100' });
  }, 120_000);

  afterAll(() => t.close());

  it('charges exactly $0.00035 for 1,000 + 500 tokens on deepseek-chat, records it, and pushes live metrics', async () => {
    upstream.handler = (call, res) =>
      sendJson(res, 200, completionBody(call.body.model, 1000, 500, 'Hello back'));
    const received: { spent: string; requests: number }[][] = [];
    const ws = t.wsClient(client.key);
    ws.subscribe<{ budgetMetrics: { budgets: { spent: string; requests: number }[] } }>(
      {
        query: 'subscription { budgetMetrics { projectId at budgets { spent requests budget { period } } } }',
      },
      {
        next: (msg) => received.push(msg.data!.budgetMetrics.budgets),
        error: () => undefined,
        complete: () => undefined,
      },
    );
    await subscribed(ws);

    const result = await t.complete(client.key, {
      model: 'deepseek-chat',
      messages: user('Hi'),
      maxTokens: 600,
    });
    expect(result.errors).toBeUndefined();
    const completion = result.data!.createChatCompletion;
    expect(completion).toMatchObject({
      model: 'deepseek-chat',
      content: 'Hello back',
      cost: '0.00035',
      priced: true,
      usage: { promptTokens: 1000, completionTokens: 500, totalTokens: 1500 },
      routing: {
        tier: null,
        modelRequested: 'deepseek-chat',
        provider: 'upstream',
        fallbacks: [],
        downgraded: false,
      },
    });
    // The upstream got the model, the prompt and an upstream key (never the gateway key).
    expect(upstream.calls.at(-1)!.body.model).toBe('deepseek-chat');
    expect(upstream.calls.at(-1)!.authorization).toBe('Bearer sk-test-upstream');

    const [row] = (await t.app.db.query(
      `SELECT prompt_tokens, completion_tokens, total_tokens, cost::text AS cost, outcome, model_served FROM usage_records WHERE id = $1`,
      [completion.id],
    )) as Record<string, unknown>[];
    expect(row).toMatchObject({
      prompt_tokens: 1000,
      completion_tokens: 500,
      total_tokens: 1500,
      outcome: 'SUCCESS',
      model_served: 'deepseek-chat',
    });
    expect(row!.cost).toBe('0.000350000000');

    const status = await t.ok<{
      budgetStatus: { spent: string; reserved: string; requests: number; totalTokens: number }[];
    }>('{ budgetStatus { spent reserved requests totalTokens } }', {}, client.key);
    for (const s of status.budgetStatus)
      expect(s).toEqual({ spent: '0.00035', reserved: '0', requests: 1, totalTokens: 1500 });

    const pushed = await eventually(
      () => received.at(-1),
      (last) => last !== undefined && last.every((b) => b.spent === '0.00035'),
    );
    expect(pushed).toHaveLength(2);
  });

  it('routes auto requests by tier and reports the tier', async () => {
    upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 12, 3));
    const simple = await t.complete(client.key, { messages: user('Classify: spam or not?') });
    expect(simple.data!.createChatCompletion).toMatchObject({
      model: 'deepseek-chat',
      routing: { tier: 'SIMPLE', modelRequested: 'auto' },
    });
    const complex = await t.complete(client.key, {
      messages: user('Prove it'),
      requiresReasoning: true,
      maxTokens: 100,
    });
    expect(complex.data!.createChatCompletion).toMatchObject({
      model: 'gpt-4.1',
      routing: { tier: 'COMPLEX' },
    });
  });

  it('pages usage records by cursor and sums usage by model', async () => {
    const first = await t.ok<{
      usageRecords: { nodes: { id: string }[]; pageInfo: { endCursor: string; hasNextPage: boolean } };
    }>('{ usageRecords(first: 2) { nodes { id } pageInfo { endCursor hasNextPage } } }', {}, client.key);
    expect(first.usageRecords.nodes).toHaveLength(2);
    expect(first.usageRecords.pageInfo.hasNextPage).toBe(true);
    const second = await t.ok<{
      usageRecords: { nodes: { id: string; apiKey: { id: string } }[]; pageInfo: { hasNextPage: boolean } };
    }>(
      'query($after: String) { usageRecords(first: 2, after: $after) { nodes { id apiKey { id } } pageInfo { hasNextPage } } }',
      { after: first.usageRecords.pageInfo.endCursor },
      client.key,
    );
    expect(second.usageRecords.nodes).toHaveLength(1);
    expect(second.usageRecords.pageInfo.hasNextPage).toBe(false);
    expect(second.usageRecords.nodes[0]!.apiKey.id).toBe(client.id);
    const ids = [...first.usageRecords.nodes, ...second.usageRecords.nodes].map((n) => n.id);
    expect(new Set(ids).size).toBe(3);

    const usage = await t.ok<{
      usage: {
        groups: { key: string; requests: number; cost: string }[];
        total: { requests: number; cost: string };
      };
    }>(
      'query($input: UsageRangeInput!) { usage(input: $input) { groups { key requests cost } total { requests cost } } }',
      {
        input: {
          from: new Date(Date.now() - 3_600_000).toISOString(),
          to: new Date(Date.now() + 60_000).toISOString(),
          groupBy: 'MODEL',
        },
      },
      client.key,
    );
    const deepseek = usage.usage.groups.find((g) => g.key === 'deepseek-chat')!;
    expect(deepseek.requests).toBe(2);
    // 0.00035 + (12 x 0.14 + 3 x 0.42) / 1e6
    expect(deepseek.cost).toBe('0.00035294');
    expect(usage.usage.total.requests).toBe(3);
  });

  it('lists models with exact prices and providers without their keys', async () => {
    const data = await t.ok<{
      models: { name: string; promptPrice: string }[];
      providers: Record<string, unknown>[];
    }>(
      '{ models { name promptPrice completionPrice tiers provider } providers { name kind baseUrl keySources } }',
      {},
      client.key,
    );
    expect(data.models.find((m) => m.name === 'deepseek-chat')!.promptPrice).toBe('0.14');
    expect(JSON.stringify(data.providers)).not.toContain('sk-test-upstream');
    expect(data.providers[0]!.keySources).toEqual(['sealed #1']);
  });

  it('hands the whole input to the upstream as sent: message names, temperature, max tokens', async () => {
    upstream.reset();
    const result = await t.complete(client.key, {
      model: 'deepseek-chat',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi', name: 'alice' },
      ],
      maxTokens: 42,
      temperature: 0.25,
    });
    expect(result.errors).toBeUndefined();
    expect(upstream.calls.map((c) => c.body)).toEqual([
      {
        model: 'deepseek-chat',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hi', name: 'alice' },
        ],
        max_tokens: 42,
        temperature: 0.25,
      },
    ]);
  });

  it('counts calls by outcome and times the successful ones on /metrics', async () => {
    upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 10, 5, 'Hi'));
    const scrape = async () => {
      const text = await (await fetch(t.app.url.replace('/graphql', '/metrics'))).text();
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
      return {
        success: value(/^tollgate_completions_total\{outcome="SUCCESS"\} (\d+)/m),
        badInput: value(/^tollgate_completions_total\{outcome="BAD_USER_INPUT"\} (\d+)/m),
        timed: value(/^tollgate_completion_seconds_count (\d+)/m),
      };
    };
    const before = await scrape();
    const call = { model: 'deepseek-chat', messages: user('Hi'), maxTokens: 20 };
    expect((await t.complete(client.key, call)).errors).toBeUndefined();
    expect((await t.complete(client.key, call)).errors).toBeUndefined();
    const refused = await t.complete(client.key, { ...call, maxTokens: -1 });
    expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await scrape()).toEqual({
      success: before.success + 2,
      badInput: before.badInput + 1,
      timed: before.timed + 2,
    });
  });
});

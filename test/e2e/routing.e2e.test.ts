import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

/**
 * Routing against the real local fake upstream: cheapest healthy model, fallbacks, the circuit
 * breaker's whole cycle, the routing report's savings, and the usage checks. Retries are off in
 * this file (one attempt per model) so every upstream answer maps to one breaker observation.
 */
describe('routing (real server, fake upstream)', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start({
      TOLLGATE_RETRY_ATTEMPTS: '1',
      TOLLGATE_BREAKER_FAILURES: '3',
      TOLLGATE_BREAKER_OPEN_MS: '2000',
    });
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  beforeEach(() => {
    upstream.reset();
  });

  /** A fresh project (so fresh circuits) on the fake upstream with the four reference models. */
  async function project(name: string): Promise<{ admin: string; key: string }> {
    const { adminKey } = await t.createProject(name);
    await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
    const { key } = await t.createKey(adminKey, 'CLIENT');
    return { admin: adminKey, key };
  }

  const models = () => upstream.calls.map((c) => c.body.model);

  it('auto routing picks the cheapest model for the call, and only a healthy one', async () => {
    const { key } = await project('cheapest');
    const simple = await t.complete(key, { messages: user('Is this spam?'), maxTokens: 100 });
    expect(simple.data!.createChatCompletion).toMatchObject({
      model: 'deepseek-chat',
      routing: { tier: 'SIMPLE', fallbacks: [] },
    });
    // A long prompt with a one-token answer is cheaper on gemini (0.10 prompt) than deepseek (0.14).
    const long = await t.complete(key, {
      messages: user('word '.repeat(3000)),
      intent: 'classification',
      maxTokens: 1,
    });
    expect(long.data!.createChatCompletion).toMatchObject({
      model: 'gemini-2.5-flash',
      routing: { tier: 'SIMPLE' },
    });
    expect(models()).toEqual(['deepseek-chat', 'gemini-2.5-flash']);

    // Open deepseek's circuit (3 failures); auto routing then skips it without calling it.
    upstream.handler = (call, res) =>
      call.body.model === 'deepseek-chat'
        ? sendJson(res, 500, { error: { message: 'down' } })
        : sendJson(res, 200, completionBody(call.body.model, 10, 5));
    for (let i = 0; i < 3; i++) {
      const failed = await t.complete(key, { model: 'deepseek-chat', messages: user('Hi') });
      expect(failed.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    }
    upstream.calls.length = 0;
    const rerouted = await t.complete(key, { messages: user('Is this spam?'), maxTokens: 100 });
    expect(rerouted.data!.createChatCompletion).toMatchObject({
      model: 'gemini-2.5-flash',
      routing: { tier: 'SIMPLE', fallbacks: [] },
    });
    expect(models()).toEqual(['gemini-2.5-flash']);
  });

  it('falls back along the tier when the chosen model fails, records both, charges only the served one', async () => {
    const { admin, key } = await project('fallback');
    await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
    upstream.handler = (call, res) =>
      call.body.model === 'deepseek-chat'
        ? sendJson(res, 503, { error: { message: 'overloaded' } })
        : sendJson(res, 200, completionBody(call.body.model, 1000, 100));
    const result = await t.complete(key, { messages: user('Hello'), maxTokens: 200, requestId: 'fb-1' });
    expect(result.errors).toBeUndefined();
    expect(result.data!.createChatCompletion).toMatchObject({
      model: 'gemini-2.5-flash',
      // 1000 x 0.10 + 100 x 2.50 = 350 micro-dollars
      cost: '0.00035',
      routing: { tier: 'SIMPLE', modelRequested: 'auto', fallbacks: ['deepseek-chat'] },
    });
    expect(models()).toEqual(['deepseek-chat', 'gemini-2.5-flash']);
    const rows = (await t.app.db.query(
      `SELECT model_served, outcome, error_code, cost::text AS cost, fallbacks, attempts
         FROM usage_records WHERE request_id = 'fb-1' ORDER BY created_at`,
    )) as Record<string, unknown>[];
    expect(rows).toEqual([
      {
        model_served: 'deepseek-chat',
        outcome: 'UPSTREAM_ERROR',
        error_code: 'UPSTREAM_UNAVAILABLE',
        cost: '0.000000000000',
        fallbacks: [],
        attempts: 1,
      },
      {
        model_served: 'gemini-2.5-flash',
        outcome: 'SUCCESS',
        error_code: null,
        cost: '0.000350000000',
        fallbacks: ['deepseek-chat'],
        attempts: 1,
      },
    ]);
    const status = await t.ok<{ budgetStatus: { spent: string; reserved: string }[] }>(
      '{ budgetStatus { spent reserved } }',
      {},
      key,
    );
    expect(status.budgetStatus).toEqual([{ spent: '0.00035', reserved: '0' }]);
  });

  it('a complex call falls back to cheaper tiers when its whole tier fails; an explicit model never changes', async () => {
    const { key } = await project('cheaper-tiers');
    upstream.handler = (call, res) =>
      ['gpt-4.1', 'claude-sonnet-4.5'].includes(call.body.model)
        ? sendJson(res, 502, { error: { message: 'bad gateway' } })
        : sendJson(res, 200, completionBody(call.body.model, 10, 5));
    const auto = await t.complete(key, {
      messages: user('Prove it'),
      requiresReasoning: true,
      maxTokens: 50,
    });
    expect(auto.data!.createChatCompletion).toMatchObject({
      model: 'deepseek-chat',
      routing: { tier: 'COMPLEX', fallbacks: ['gpt-4.1', 'claude-sonnet-4.5'] },
    });
    upstream.calls.length = 0;
    const explicit = await t.complete(key, { model: 'gpt-4.1', messages: user('Prove it'), maxTokens: 50 });
    expect(explicit.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(models()).toEqual(['gpt-4.1']);
  });

  it('the circuit opens after N failures (alerting once), half-opens after its timeout, re-opens on a failed probe and closes on a good one', async () => {
    const { key } = await project('breaker');
    const circuit = async () =>
      (
        await t.ok<{ models: { name: string; circuit: { state: string; consecutiveFailures: number } }[] }>(
          '{ models { name circuit { state consecutiveFailures openedAt retryAt } } }',
          {},
          key,
        )
      ).models.find((m) => m.name === 'gpt-4.1')!.circuit;
    const circuitAlerts = async () =>
      (
        await t.ok<{ alerts: { type: string; severity: string; message: string }[] }>(
          '{ alerts(days: 1) { type severity message } }',
          {},
          key,
        )
      ).alerts.filter((a) => a.type === 'CIRCUIT_OPEN');
    const call = () => t.complete(key, { model: 'gpt-4.1', messages: user('Hi'), maxTokens: 10 });

    upstream.handler = (_call, res) => sendJson(res, 500, { error: { message: 'boom' } });
    for (let i = 0; i < 2; i++)
      expect((await call()).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(await circuit()).toMatchObject({ state: 'CLOSED', consecutiveFailures: 2 });
    expect((await call()).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(await circuit()).toMatchObject({ state: 'OPEN', consecutiveFailures: 3 });
    expect(upstream.calls).toHaveLength(3);

    // Open: refused without reaching the upstream.
    const refused = await call();
    expect(refused.errors?.[0]).toMatchObject({
      extensions: { code: 'UPSTREAM_UNAVAILABLE', model: 'gpt-4.1' },
    });
    expect(upstream.calls).toHaveLength(3);
    const alerts = await eventually(circuitAlerts, (a) => a.length === 1);
    expect(alerts[0]).toMatchObject({ severity: 'CRITICAL' });
    expect(alerts[0]!.message).toContain('gpt-4.1');

    const circuits = async () =>
      (
        await t.ok<{
          limiterStats: { circuits: { model: string; state: string; openedAt: string; retryAt: string }[] };
        }>('{ limiterStats { circuits { provider model state openedAt retryAt } } }', {}, key)
      ).limiterStats.circuits;
    const untilProbe = async () => {
      const open = (await circuits()).find((c) => c.model === 'gpt-4.1')!;
      expect(Date.parse(open.retryAt) - Date.parse(open.openedAt)).toBe(2000);
      // A sleep kept on purpose: the open timeout running out is what this waits for.
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(open.retryAt) - Date.now()) + 20));
    };
    const now = await circuits();
    expect(now.find((c) => c.model === 'gpt-4.1')!.state).toBe('OPEN');
    expect(now.find((c) => c.model === 'deepseek-chat')!.state).toBe('CLOSED');

    // After the timeout: half-open; the probe fails, so it opens again (a second opening, a second alert).
    await untilProbe();
    expect((await circuit()).state).toBe('HALF_OPEN');
    expect((await call()).errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(upstream.calls).toHaveLength(4);
    expect((await circuit()).state).toBe('OPEN');
    await eventually(circuitAlerts, (a) => a.length === 2);

    // Next timeout: one probe at a time. While the (slow, good) probe is out, another call is refused.
    await untilProbe();
    upstream.handler = (c, res) => {
      setTimeout(() => sendJson(res, 200, completionBody(c.body.model, 10, 5)), 1000);
    };
    const probe = call();
    await eventually(
      () => upstream.calls.length,
      (n) => n === 5,
    );
    const during = await call();
    expect(during.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await probe).data!.createChatCompletion).toMatchObject({ model: 'gpt-4.1' });
    expect(await circuit()).toMatchObject({ state: 'CLOSED', consecutiveFailures: 0 });
    expect((await call()).data!.createChatCompletion).toMatchObject({ model: 'gpt-4.1' });
    expect(upstream.calls).toHaveLength(6);
    expect(await circuitAlerts()).toHaveLength(2);
  });

  it('routingReport: requests, exact cost and savings against the baseline equal a hand computation', async () => {
    const { key } = await project('report');
    const usage: Record<string, [number, number]> = {
      'deepseek-chat': [1000, 500],
      'gemini-2.5-flash': [2000, 100],
      'gpt-4.1': [300, 700],
    };
    upstream.handler = (call, res) => {
      if (call.body.model === 'claude-sonnet-4.5') return sendJson(res, 400, { error: { message: 'no' } });
      if (call.body.messages[0]!.content === 'mystery')
        return sendJson(res, 200, completionBody('mystery-model', 5000, 5000));
      const [p, c] = usage[call.body.model]!;
      sendJson(res, 200, completionBody(call.body.model, p, c));
    };
    const from = new Date(Date.now() - 1000).toISOString();
    for (const input of [
      { messages: user('a') },
      { messages: user('b') },
      { model: 'gemini-2.5-flash', messages: user('c') },
      { model: 'gpt-4.1', messages: user('d') },
      { model: 'claude-sonnet-4.5', messages: user('e') }, // fails: a failure, no cost
      { model: 'deepseek-chat', messages: user('mystery') }, // served by an unpriced model
    ]) {
      await t.complete(key, { maxTokens: 1000, ...input });
    }
    const to = new Date(Date.now() + 1000).toISOString();
    const query = `query($from: DateTimeISO!, $to: DateTimeISO!, $baseline: String!) {
      routingReport(from: $from, to: $to, baselineModel: $baseline) {
        baselineModel requests failures unpricedRequests cost averageCostPerRequest baselineCost savings savingsRatio
        routes { key requests failures unpricedRequests cost costPerRequest baselineCost savings averageLatencyMs promptTokens completionTokens }
      }
    }`;
    type Report = {
      routingReport: {
        routes: Record<string, unknown>[];
        [k: string]: unknown;
      };
    };
    const report = (await t.ok<Report>(query, { from, to, baseline: 'gpt-4.1' }, key)).routingReport;
    // By hand, in micro-dollars (USD per million tokens x tokens):
    //   SIMPLE:deepseek-chat   2 x (1000 x 0.14 + 500 x 0.42) = 700;   on gpt-4.1 2 x (1000 x 2 + 500 x 8) = 12000
    //   EXPLICIT:gemini        2000 x 0.10 + 100 x 2.50       = 450;   on gpt-4.1 2000 x 2 + 100 x 8      = 4800
    //   EXPLICIT:gpt-4.1       300 x 2 + 700 x 8              = 6200;  on gpt-4.1                            6200
    //   EXPLICIT:mystery-model unpriced: $0, left out of the savings
    //   total 7350 over 5 requests = 1470 each; baseline 23000; savings 15650
    expect(report).toMatchObject({
      baselineModel: 'gpt-4.1',
      requests: 5,
      failures: 1,
      unpricedRequests: 1,
      cost: '0.00735',
      averageCostPerRequest: '0.00147',
      baselineCost: '0.023',
      savings: '0.01565',
    });
    expect(report.savingsRatio).toBeCloseTo(15650 / 23000, 6);
    const byKey = Object.fromEntries(report.routes.map((r) => [r.key, r]));
    expect(Object.keys(byKey).sort()).toEqual([
      'EXPLICIT:claude-sonnet-4.5',
      'EXPLICIT:gemini-2.5-flash',
      'EXPLICIT:gpt-4.1',
      'EXPLICIT:mystery-model',
      'SIMPLE:deepseek-chat',
    ]);
    expect(byKey['SIMPLE:deepseek-chat']).toMatchObject({
      requests: 2,
      cost: '0.0007',
      costPerRequest: '0.00035',
      baselineCost: '0.012',
      savings: '0.0113',
      promptTokens: 2000,
      completionTokens: 1000,
    });
    expect(byKey['SIMPLE:deepseek-chat'].averageLatencyMs).toBeGreaterThan(0);
    expect(byKey['EXPLICIT:gemini-2.5-flash']).toMatchObject({ cost: '0.00045', savings: '0.00435' });
    expect(byKey['EXPLICIT:gpt-4.1']).toMatchObject({ cost: '0.0062', savings: '0' });
    expect(byKey['EXPLICIT:claude-sonnet-4.5']).toMatchObject({ requests: 0, failures: 1, cost: '0' });
    expect(byKey['EXPLICIT:mystery-model']).toMatchObject({
      requests: 1,
      unpricedRequests: 1,
      baselineCost: '0',
    });

    // Against claude (3.00 / 15.00): baseline 2x10500 + 7500 + 11400 = 39900; savings 39900 - 7350 = 32550
    const dearer = (await t.ok<Report>(query, { from, to, baseline: 'claude-sonnet-4.5' }, key))
      .routingReport;
    expect(dearer).toMatchObject({ baselineCost: '0.0399', savings: '0.03255' });
    // Against deepseek the routes cost more than the baseline: negative savings, exactly.
    // baseline 700 + (2000 x 0.14 + 100 x 0.42 = 322) + (300 x 0.14 + 700 x 0.42 = 336) = 1358; 1358 - 7350
    const cheaper = (await t.ok<Report>(query, { from, to, baseline: 'deepseek-chat' }, key)).routingReport;
    expect(cheaper).toMatchObject({ baselineCost: '0.001358', savings: '-0.005992' });

    const empty = (
      await t.ok<Report>(
        query,
        { from: to, to: new Date(Date.now() + 5000).toISOString(), baseline: 'gpt-4.1' },
        key,
      )
    ).routingReport;
    expect(empty).toMatchObject({
      requests: 0,
      cost: '0',
      averageCostPerRequest: '0',
      savings: '0',
      routes: [],
    });
    const unknown = await t.gql(query, { from, to, baseline: 'gpt-9' }, key);
    expect(unknown.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('usage checks: inconsistent or negative usage is UPSTREAM_ERROR; a different served model is priced as served', async () => {
    const { key } = await project('usage-checks');
    const reply = (model: string, usage: Record<string, number>) => ({
      ...completionBody(model, 1, 1),
      usage,
    });
    upstream.handler = (_call, res) =>
      sendJson(
        res,
        200,
        reply('deepseek-chat', { prompt_tokens: 10, completion_tokens: 5, total_tokens: 16 }),
      );
    const wrongTotal = await t.complete(key, {
      model: 'deepseek-chat',
      messages: user('x'),
      requestId: 'u-1',
    });
    expect(wrongTotal.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    upstream.handler = (_call, res) =>
      sendJson(
        res,
        200,
        reply('deepseek-chat', { prompt_tokens: -10, completion_tokens: 5, total_tokens: -5 }),
      );
    const negative = await t.complete(key, { model: 'deepseek-chat', messages: user('x'), requestId: 'u-2' });
    expect(negative.errors?.[0]?.extensions?.code).toBe('UPSTREAM_ERROR');
    const failedRows = (await t.app.db.query(
      `SELECT outcome, cost::text AS cost FROM usage_records WHERE request_id IN ('u-1', 'u-2')`,
    )) as { outcome: string; cost: string }[];
    expect(failedRows).toEqual([
      { outcome: 'UPSTREAM_ERROR', cost: '0.000000000000' },
      { outcome: 'UPSTREAM_ERROR', cost: '0.000000000000' },
    ]);

    // Asked deepseek, served gemini: priced at gemini's prices (1000 x 0.10 + 100 x 2.50 = 350 micro).
    upstream.handler = (_call, res) => sendJson(res, 200, completionBody('gemini-2.5-flash', 1000, 100));
    const swapped = await t.complete(key, { model: 'deepseek-chat', messages: user('x'), requestId: 'u-3' });
    expect(swapped.data!.createChatCompletion).toMatchObject({
      model: 'gemini-2.5-flash',
      cost: '0.00035',
      priced: true,
      routing: { modelRequested: 'deepseek-chat', model: 'gemini-2.5-flash' },
    });
    const [row] = (await t.app.db.query(
      `SELECT model_requested, model_served, priced FROM usage_records WHERE request_id = 'u-3'`,
    )) as Record<string, unknown>[];
    expect(row).toEqual({ model_requested: 'deepseek-chat', model_served: 'gemini-2.5-flash', priced: true });

    // A model with no price: recorded at $0 and flagged, never priced as another.
    upstream.handler = (_call, res) => sendJson(res, 200, completionBody('unknown-llm', 1000, 100));
    const unpriced = await t.complete(key, { model: 'deepseek-chat', messages: user('x') });
    expect(unpriced.data!.createChatCompletion).toMatchObject({
      model: 'unknown-llm',
      cost: '0',
      priced: false,
    });
  });
});

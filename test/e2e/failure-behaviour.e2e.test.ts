import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

/**
 * How the gateway behaves when the upstream misbehaves: what the circuit breaker counts and when
 * it closes, how long a hanging model holds a call, and where DOWNGRADE may land.
 */
describe('failure behaviour (real server, fake upstream)', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start({
      // Three attempts per call (the default): a hanging model must still not take three timeouts.
      TOLLGATE_RETRY_ATTEMPTS: '3',
      TOLLGATE_RETRY_BASE_DELAY_MS: '1',
      TOLLGATE_BREAKER_FAILURES: '3',
      TOLLGATE_BREAKER_OPEN_MS: '60000',
    });
    t.defer(() => upstream.stop());
  }, 120_000);
  afterAll(() => t.close());
  beforeEach(() => upstream.reset());

  /** A fresh project (fresh circuits) whose provider times out after `timeoutMs`. */
  async function project(name: string, timeoutMs = 30_000): Promise<{ admin: string; key: string }> {
    const { adminKey } = await t.createProject(name);
    await t.ok(
      'mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }',
      {
        input: {
          name: 'upstream',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: upstream.baseUrl,
          upstreamKeys: ['sk-test'],
          timeoutMs,
        },
      },
      adminKey,
    );
    const models = [
      { name: 'deepseek-chat', promptPrice: '0.14', completionPrice: '0.42', tiers: ['SIMPLE'] },
      { name: 'gemini-2.5-flash', promptPrice: '0.10', completionPrice: '2.50', tiers: ['SIMPLE'] },
      { name: 'gpt-4.1', promptPrice: '2.00', completionPrice: '8.00', tiers: ['COMPLEX'] },
    ];
    for (const m of models) {
      await t.ok(
        'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
        { input: { ...m, provider: 'upstream' } },
        adminKey,
      );
    }
    return { admin: adminKey, key: (await t.createKey(adminKey, 'CLIENT')).key };
  }

  async function circuit(key: string, model: string) {
    const data = await t.ok<{
      models: { name: string; circuit: { state: string; consecutiveFailures: number } }[];
    }>('{ models { name circuit { state consecutiveFailures } } }', {}, key);
    return data.models.find((m) => m.name === model)!.circuit;
  }

  it('stays OPEN when a slow success that started before the opening lands in the open window', async () => {
    const { key } = await project('slow-success');
    let releaseSlow: () => void = () => undefined;
    const slowMayAnswer = new Promise<void>((r) => (releaseSlow = r));
    upstream.handler = async (call, res) => {
      if (call.body.messages[0]!.content === 'slow') {
        await slowMayAnswer;
        sendJson(res, 200, completionBody(call.body.model, 10, 5));
      } else sendJson(res, 500, { error: { message: 'down' } });
    };
    const slow = t.complete(key, { model: 'gpt-4.1', messages: user('slow'), maxTokens: 10 });
    await eventually(
      () => upstream.calls.length,
      (n) => n === 1,
    );
    // One call, three failed attempts: the circuit opens.
    const failed = await t.complete(key, { model: 'gpt-4.1', messages: user('fail'), maxTokens: 10 });
    expect(failed.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await circuit(key, 'gpt-4.1')).state).toBe('OPEN');
    releaseSlow();
    expect((await slow).errors).toBeUndefined();
    expect((await circuit(key, 'gpt-4.1')).state).toBe('OPEN');
    const refused = await t.complete(key, { model: 'gpt-4.1', messages: user('after'), maxTokens: 10 });
    expect(refused.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(upstream.calls).toHaveLength(4); // the open circuit kept the last call away
  });

  it('does not open a circuit on 429s: they are back-pressure, not failures', async () => {
    const { key } = await project('back-pressure');
    upstream.handler = (_call, res) =>
      sendJson(res, 429, { error: { message: 'slow down' } }, { 'retry-after-ms': '1' });
    for (let i = 0; i < 6; i++) {
      const limited = await t.complete(key, { model: 'gpt-4.1', messages: user(`busy ${i}`), maxTokens: 10 });
      expect(limited.errors?.[0]?.extensions?.code).toBe('UPSTREAM_UNAVAILABLE');
    }
    expect(await circuit(key, 'gpt-4.1')).toEqual({ state: 'CLOSED', consecutiveFailures: 0 });
    expect(upstream.calls).toHaveLength(18); // every attempt reached it: nothing was cut off
  });

  it('a hanging model falls back after one timeout, and the timeout is a recorded failure', async () => {
    const { key } = await project('hang', 300);
    upstream.handler = (call, res) => {
      if (call.body.model === 'deepseek-chat') return; // never answers
      sendJson(res, 200, completionBody(call.body.model, 10, 5));
    };
    const started = performance.now();
    const served = await t.complete(key, { messages: user('Is this spam?'), maxTokens: 100 });
    const elapsed = performance.now() - started;
    expect(served.errors).toBeUndefined();
    expect(served.data!.createChatCompletion).toMatchObject({
      model: 'gemini-2.5-flash',
      routing: { fallbacks: ['deepseek-chat'] },
    });
    expect(elapsed).toBeLessThan(1_500); // one 300 ms timeout, not three, then the fallback
    expect(upstream.calls.map((c) => c.body.model)).toEqual(['deepseek-chat', 'gemini-2.5-flash']);
    const report = await t.ok<{
      routingReport: { failures: number; routes: { key: string; failures: number }[] };
    }>(
      'query($from: DateTimeISO!, $to: DateTimeISO!) { routingReport(from: $from, to: $to) { failures routes { key failures } } }',
      { from: new Date(Date.now() - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() },
      key,
    );
    expect(report.routingReport.failures).toBe(1);
    expect(report.routingReport.routes.find((r) => r.key === 'SIMPLE:deepseek-chat')?.failures).toBe(1);
  });

  it('DOWNGRADE lands only on a healthy model', async () => {
    const { admin, key } = await project('downgrade');
    // deepseek's circuit opens: it is the cheapest, so a naive downgrade would pick it.
    upstream.handler = (call, res) =>
      call.body.model === 'deepseek-chat'
        ? sendJson(res, 500, { error: { message: 'down' } })
        : sendJson(res, 200, completionBody(call.body.model, 10, 5));
    await t.complete(key, { model: 'deepseek-chat', messages: user('x') });
    expect((await circuit(key, 'deepseek-chat')).state).toBe('OPEN');
    // gpt-4.1's worst case (~$0.00082) does not fit $0.0005; gemini's (~$0.00025) does.
    await t.createBudget(admin, { period: 'DAILY', limitUsd: '0.0005', policy: 'DOWNGRADE' });
    upstream.calls.length = 0;
    const served = await t.complete(key, { model: 'gpt-4.1', messages: user('Hello'), maxTokens: 100 });
    expect(served.errors).toBeUndefined();
    expect(served.data!.createChatCompletion).toMatchObject({
      model: 'gemini-2.5-flash',
      routing: { downgraded: true },
    });
    expect(upstream.calls.map((c) => c.body.model)).toEqual(['gemini-2.5-flash']);
  });
});

import OpenAI from 'openai';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { TestServer, user } from '../support/harness';

/** One scrape of /metrics, read by metric name and labels. */
async function scrape(t: TestServer): Promise<(name: string, labels?: Record<string, string>) => number> {
  const text = await (await fetch(t.app.url.replace('/graphql', '/metrics'))).text();
  return (name, labels = {}) => {
    let total = 0;
    for (const line of text.split('\n')) {
      const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match || match[1] !== name) continue;
      const have = Object.fromEntries(
        [...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
      );
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(match[3]);
    }
    return total;
  };
}

describe('operator metrics on /metrics: spend, tokens, budget utilization, upstream and added latency', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
  }, 120_000);
  afterAll(() => t.close());

  it('a charged call adds its spend and tokens by model, its latencies by door, and its budget utilization', async () => {
    const { adminKey } = await t.createProject('metrics');
    await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
    const budget = await t.createBudget(adminKey, { period: 'DAILY', limitUsd: '1' });
    const { key } = await t.createKey(adminKey, 'CLIENT', 'metrics');
    upstream.handler = (call, res) =>
      sendJson(res, 200, {
        ...completionBody(call.body.model, 1000, 500, 'Hi'),
        usage: {
          prompt_tokens: 1000,
          completion_tokens: 500,
          total_tokens: 1500,
          prompt_tokens_details: { cached_tokens: 200 },
          completion_tokens_details: { reasoning_tokens: 100 },
        },
      });
    const before = await scrape(t);
    expect(
      (await t.complete(key, { model: 'deepseek-chat', messages: user('Hi'), maxTokens: 600 })).errors,
    ).toBeUndefined();
    const sdk = new OpenAI({ apiKey: key, baseURL: t.app.url.replace('/graphql', '/v1'), maxRetries: 0 });
    await sdk.chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 600,
    });
    const after = await scrape(t);
    const delta = (name: string, labels?: Record<string, string>) =>
      after(name, labels) - before(name, labels);

    // Two calls at 1,000 x 0.14 + 500 x 0.42 per million (deepseek-chat has no cache price: all at the prompt price).
    expect(delta('tollgate_spend_usd_total', { model: 'deepseek-chat', kind: 'CHAT' })).toBeCloseTo(
      0.0007,
      10,
    );
    expect(delta('tollgate_tokens_total', { model: 'deepseek-chat', class: 'prompt' })).toBe(2000);
    expect(delta('tollgate_tokens_total', { model: 'deepseek-chat', class: 'cached_prompt' })).toBe(400);
    expect(delta('tollgate_tokens_total', { model: 'deepseek-chat', class: 'completion' })).toBe(1000);
    expect(delta('tollgate_tokens_total', { model: 'deepseek-chat', class: 'reasoning' })).toBe(200);
    expect(delta('tollgate_upstream_seconds_count', { model: 'deepseek-chat' })).toBe(2);
    expect(delta('tollgate_added_seconds_count', { door: 'graphql' })).toBe(1);
    expect(delta('tollgate_added_seconds_count', { door: 'openai' })).toBe(1);
    expect(after('tollgate_budget_utilization_ratio', { budget, period: 'DAILY' })).toBeCloseTo(0.0007, 9);
  });
});

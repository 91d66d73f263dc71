import OpenAI from 'openai';
import { completionBody, FakeUpstream, sendJson, sendStream } from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i} `);

describe('streamed completions, metered to the token (REST and GraphQL)', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let admin: string;
  let sdk: (key: string, maxRetries?: number) => OpenAI;
  let sent: string[];

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
    ({ adminKey: admin } = await t.createProject('streams'));
    await t.addCatalog(admin, { baseUrl: upstream.baseUrl });
    sent = [];
    sdk = (key, maxRetries = 2) =>
      new OpenAI({
        apiKey: key,
        baseURL: t.app.url.replace('/graphql', '/v1'),
        maxRetries,
        fetch: (url, init) => {
          sent.push(String(url));
          return fetch(url, init);
        },
      });
  }, 120_000);
  afterAll(() => t.close());

  it('streams through the SDK with the final usage chunk, asks the upstream for usage, and records the exact cost', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'stream');
    upstream.handler = (call, res) => {
      void sendStream(res, call.body.model, ['Hel', 'lo ', 'there'], {
        usage: { prompt: 1000, completion: 500 },
      });
    };
    const stream = await sdk(client.key).chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 1000, // the worst case must cover 1,000 + 500 tokens: a stream never costs more than it reserved
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Hello there');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 });
    const asked = upstream.calls.at(-1)!.body as {
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    };
    expect(asked.stream).toBe(true);
    expect(asked.stream_options?.include_usage).toBe(true);
    const rows = (await t.app.db.query(
      `SELECT cost::text AS cost, outcome FROM usage_records WHERE api_key_id = $1`,
      [client.id],
    )) as { cost: string; outcome: string }[];
    expect(rows).toEqual([{ cost: '0.000350000000', outcome: 'SUCCESS' }]);
  });

  it('counts with the tokenizer when the upstream sends no usage', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'no-usage');
    upstream.handler = (call, res) => void sendStream(res, call.body.model, words(10));
    const stream = await sdk(client.key).chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'count me' }],
      stream: true,
    });
    for await (const chunk of stream) void chunk;
    const [row] = (await t.app.db.query(
      `SELECT prompt_tokens, completion_tokens, cost::numeric > 0 AS charged FROM usage_records WHERE api_key_id = $1`,
      [client.id],
    )) as { prompt_tokens: number; completion_tokens: number; charged: boolean }[];
    expect(row!.prompt_tokens).toBeGreaterThan(0);
    expect(row!.completion_tokens).toBeGreaterThanOrEqual(10);
    expect(row!.charged).toBe(true);
  });

  it('charges a stream the client drops halfway for the tokens produced so far, aborts the upstream, holds nothing', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'dropper');
    await t.createBudget(admin, { apiKeyId: client.id, period: 'DAILY', limitUsd: '1' });
    let upstreamResult: Promise<{ sent: number; aborted: boolean }> | undefined;
    upstream.handler = (call, res) => {
      upstreamResult = sendStream(res, call.body.model, words(40), {
        delayMs: 30,
        usage: { prompt: 20, completion: 80 },
      });
    };
    const stream = await sdk(client.key).chat.completions.create({
      model: 'gpt-4.1',
      messages: [{ role: 'user', content: 'a long answer please' }],
      max_tokens: 200,
      stream: true,
    });
    let received = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) received++;
      if (received === 8) {
        stream.controller.abort();
        break;
      }
    }
    const outcome = await upstreamResult!;
    expect(outcome.aborted).toBe(true);
    expect(outcome.sent).toBeLessThan(40);
    const row = await eventually(
      async () =>
        (
          (await t.app.db.query(
            `SELECT outcome, completion_tokens, cost::text AS cost FROM usage_records WHERE api_key_id = $1`,
            [client.id],
          )) as { outcome: string; completion_tokens: number; cost: string }[]
        )[0],
      (r) => r !== undefined,
    );
    expect(row.outcome).toBe('CANCELLED');
    expect(row.completion_tokens).toBeGreaterThanOrEqual(8);
    expect(row.completion_tokens).toBeLessThan(80);
    const cost = Number(row.cost);
    // more than zero, less than the whole (20 + 80 tokens on gpt-4.1 = $0.00068)
    expect(cost).toBeGreaterThan(0);
    expect(cost).toBeLessThan(0.00068);
    const [counter] = (await t.app.db.query(
      `SELECT spent::text AS spent, reserved::text AS reserved FROM budget_counters c JOIN budgets b ON b.id = c.budget_id WHERE b.api_key_id = $1`,
      [client.id],
    )) as { spent: string; reserved: string }[];
    expect(counter!.reserved).toBe('0.000000000000');
    expect(counter!.spent).toBe(row.cost);
  });

  it('cuts a stream at maxTokens: it never costs more than it reserved', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'capped');
    // The upstream ignores max_tokens and would send 200 words.
    upstream.handler = (call, res) => void sendStream(res, call.body.model, words(200));
    const stream = await sdk(client.key).chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'go on forever' }],
      max_tokens: 20,
      stream: true,
    });
    let finish: string | null = null;
    for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('length');
    const estimate = await t.ok<{ estimateCost: { worstCaseCost: string } }>(
      'query($i: EstimateCostInput!) { estimateCost(input: $i) { worstCaseCost } }',
      { i: { model: 'deepseek-chat', messages: user('go on forever'), maxTokens: 20 } },
      client.key,
    );
    const [row] = (await t.app.db.query(
      `SELECT completion_tokens, cost::text AS cost FROM usage_records WHERE api_key_id = $1`,
      [client.id],
    )) as { completion_tokens: number; cost: string }[];
    expect(row!.completion_tokens).toBeLessThanOrEqual(20);
    expect(Number(row!.cost)).toBeLessThanOrEqual(Number(estimate.estimateCost.worstCaseCost));
  });

  it('makes the SDK wait the Retry-After Tollgate sends on a 429, then succeed', async () => {
    // 600 tokens per minute = 10 per second. The first call uses all 600; the second needs ~18,
    // so Tollgate refuses it for about 1.8 s and the SDK, told so, waits and succeeds.
    const { key } = await t
      .ok<{ createApiKey: { key: string } }>(
        'mutation { createApiKey(input: { name: "tpm", role: CLIENT, tpmLimit: 600 }) { key } }',
        {},
        admin,
      )
      .then((d) => d.createApiKey);
    const messages = [{ role: 'user' as const, content: 'hi' }];
    const { estimateCost } = await t.ok<{ estimateCost: { promptTokens: number } }>(
      'query($i: EstimateCostInput!) { estimateCost(input: $i) { promptTokens } }',
      { i: { model: 'deepseek-chat', messages } },
      key,
    );
    const prompt = estimateCost.promptTokens;
    upstream.handler = (call, res) =>
      sendJson(
        res,
        200,
        completionBody(call.body.model, prompt, Math.min(call.body.max_tokens ?? 10, 600 - prompt)),
      );
    await sdk(key, 0).chat.completions.create({ model: 'deepseek-chat', messages, max_tokens: 600 - prompt });
    sent.length = 0;
    const started = performance.now();
    const { response } = await sdk(key, 3)
      .chat.completions.create({ model: 'deepseek-chat', messages, max_tokens: 10 })
      .withResponse();
    const elapsed = performance.now() - started;
    expect(response.status).toBe(200);
    expect(sent.length).toBe(2); // refused once with 429, then retried after the wait it was given
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('100 mixed streamed and plain calls, some cancelled: the ledger equals the counters', async () => {
    const fresh = await t.createProject('mixed');
    await t.addCatalog(fresh.adminKey, { baseUrl: upstream.baseUrl });
    await t.createBudget(fresh.adminKey, { period: 'DAILY', limitUsd: '100' });
    const key = (await t.createKey(fresh.adminKey, 'CLIENT', 'mixed')).key;
    upstream.handler = (call, res) => {
      if (call.body.stream)
        void sendStream(res, call.body.model, words(12), {
          delayMs: 5,
          usage: { prompt: 30, completion: 12 },
        });
      else sendJson(res, 200, completionBody(call.body.model, 30, 12));
    };
    const api = sdk(key, 0);
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const body = {
          model: 'deepseek-chat',
          messages: [{ role: 'user' as const, content: `n${i}` }],
          max_tokens: 50,
        };
        if (i % 2 === 0) {
          await api.chat.completions.create(body);
          return;
        }
        const stream = await api.chat.completions.create({ ...body, stream: true });
        let n = 0;
        for await (const chunk of stream) {
          if (chunk.choices[0]?.delta?.content && ++n === 3 && i % 3 === 0) {
            stream.controller.abort();
            break;
          }
        }
      }),
    );
    const state = await eventually(
      async () =>
        (await t.app.db.query(
          `SELECT (SELECT coalesce(sum(cost), 0)::text FROM usage_records u WHERE u.project_id = $1) AS usage,
                  (SELECT count(*)::int FROM usage_records u WHERE u.project_id = $1) AS rows,
                  coalesce(sum(c.spent), 0)::text AS spent, coalesce(sum(c.reserved), 0)::text AS reserved
             FROM budget_counters c JOIN budgets b ON b.id = c.budget_id WHERE b.project_id = $1`,
          [fresh.projectId],
        )) as { usage: string; rows: number; spent: string; reserved: string }[],
      (rows) => rows[0]?.rows === 100 && rows[0].reserved === '0.000000000000',
    );
    expect(state[0]!.spent).toBe(state[0]!.usage);
    const cancelled = await t.count('usage_records', `project_id = $1 AND outcome = 'CANCELLED'`, [
      fresh.projectId,
    ]);
    expect(cancelled).toBeGreaterThan(0);
  });

  it('streams over GraphQL (graphql-ws) with a final event carrying usage and exact cost', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'gql-stream');
    upstream.handler = (call, res) =>
      void sendStream(res, call.body.model, ['A', 'B', 'C'], { usage: { prompt: 1000, completion: 500 } });
    const ws = t.wsClient(client.key);
    const events: {
      delta: string;
      done: boolean;
      completion: { cost: string; usage: { totalTokens: number } } | null;
    }[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.subscribe<{ chatCompletionStream: (typeof events)[number] }>(
        {
          query: `subscription($i: ChatCompletionInput!) { chatCompletionStream(input: $i) {
            delta done completion { cost model usage { totalTokens } } } }`,
          variables: { i: { model: 'deepseek-chat', messages: user('stream it'), maxTokens: 1000 } },
        },
        { next: (m) => events.push(m.data!.chatCompletionStream), error: reject, complete: resolve },
      );
    });
    expect(
      events
        .filter((e) => !e.done)
        .map((e) => e.delta)
        .join(''),
    ).toBe('ABC');
    const last = events.at(-1)!;
    expect(last.done).toBe(true);
    expect(last.completion).toMatchObject({ cost: '0.00035', usage: { totalTokens: 1500 } });
  });

  it('the simulated provider streams too, offline, with its configured pause between chunks', async () => {
    const offline = await t.createProject('offline');
    await t.addCatalog(offline.adminKey, { simulation: { chunkDelayMs: 15 } });
    const key = (await t.createKey(offline.adminKey, 'CLIENT', 'sim')).key;
    const stream = await sdk(key).chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'stream offline' }],
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    const arrivals: number[] = [];
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const piece = chunk.choices[0]?.delta?.content;
      if (piece) {
        arrivals.push(performance.now());
        text += piece;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(arrivals.length).toBeGreaterThan(5);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(15 * (arrivals.length - 1) * 0.8);
    expect(text).toContain('Simulated reply');
    expect(usage!.completion_tokens).toBeGreaterThan(0);
    expect(
      await t.count('usage_records', `project_id = $1 AND outcome = 'SUCCESS'`, [offline.projectId]),
    ).toBe(1);
  });
});

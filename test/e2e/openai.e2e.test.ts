import OpenAI from 'openai';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { TestServer } from '../support/harness';

describe('drop-in OpenAI endpoint, driven by the official openai SDK', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let admin: string;
  let sent: string[];
  let sdk: (key: string) => OpenAI;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
    ({ adminKey: admin } = await t.createProject('sdk'));
    await t.addCatalog(admin, { baseUrl: upstream.baseUrl });
    upstream.handler = (call, res) =>
      sendJson(res, 200, completionBody(call.body.model, 1000, 500, 'Hi from upstream'));
    sent = [];
    sdk = (key) =>
      new OpenAI({
        apiKey: key,
        baseURL: t.app.url.replace('/graphql', '/v1'),
        maxRetries: 2,
        fetch: (url, init) => {
          sent.push(String(url));
          return fetch(url, init);
        },
      });
  }, 120_000);
  afterAll(() => t.close());

  it('answers a plain call in the shape the SDK expects and records it at the exact cost', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'sdk-app');
    const { data: completion, response } = await sdk(client.key)
      .chat.completions.create({
        model: 'deepseek-chat',
        messages: [{ role: 'user', content: 'Hello' }],
        max_tokens: 600,
      })
      .withResponse();
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('deepseek-chat');
    expect(completion.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'Hi from upstream' });
    expect(completion.choices[0]!.finish_reason).toBe('stop');
    expect(completion.usage).toEqual({ prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500 });
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    const rows = (await t.app.db.query(
      `SELECT cost::text AS cost, api_key_id FROM usage_records WHERE request_id = $1`,
      [requestId],
    )) as { cost: string; api_key_id: string }[];
    expect(rows).toEqual([{ cost: '0.000350000000', api_key_id: client.id }]);
  });

  it('maps Idempotency-Key to the requestId: a repeat is not charged again', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'idem');
    const body = {
      model: 'deepseek-chat',
      messages: [{ role: 'user' as const, content: 'Once' }],
      max_tokens: 600,
    };
    const calls = upstream.calls.length;
    await sdk(client.key).chat.completions.create(body, { headers: { 'Idempotency-Key': 'order-42' } });
    await sdk(client.key).chat.completions.create(body, { headers: { 'Idempotency-Key': 'order-42' } });
    expect(upstream.calls.length).toBe(calls + 1);
    expect(await t.count('usage_records', 'request_id = $1', ['order-42'])).toBe(1);
  });

  it('refuses a bad key with 401 in OpenAI error shape', async () => {
    await expect(
      sdk('tg_not_a_real_key_000000000000').chat.completions.create({
        model: 'auto',
        messages: [{ role: 'user', content: 'x' }],
      }),
    ).rejects.toMatchObject({
      status: 401,
      error: { type: 'authentication_error' },
    });
  });

  it('refuses bad input with 400 naming the parameter', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'bad');
    await expect(
      sdk(client.key).chat.completions.create({ model: 'deepseek-chat', messages: [], max_tokens: 10 }),
    ).rejects.toMatchObject({ status: 400, error: { type: 'invalid_request_error', param: 'messages' } });
  });

  it('refuses a call over budget with 402 that the SDK does not retry', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'poor');
    await t.createBudget(admin, { apiKeyId: client.id, period: 'DAILY', limitUsd: '0.000001' });
    sent.length = 0;
    const error = await sdk(client.key)
      .chat.completions.create({
        model: 'gpt-4.1',
        messages: [{ role: 'user', content: 'expensive' }],
        max_tokens: 1000,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
    expect((error as { error: { code: string } }).error.code).toBe('budget_exceeded');
    expect(sent).toHaveLength(1);
  });

  it('lists models, auto first', async () => {
    const client = await t.createKey(admin, 'CLIENT', 'models');
    const models = await sdk(client.key).models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids[0]).toBe('auto');
    expect(ids).toEqual(
      expect.arrayContaining(['deepseek-chat', 'gpt-4.1', 'claude-sonnet-4.5', 'gemini-2.5-flash']),
    );
  });
});

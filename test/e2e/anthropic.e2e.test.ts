import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { parseUsd } from '../../src/shared/money';
import { clearOfMidnight, ledger } from '../support/billing';
import { anthropicError, anthropicMessage, eventsOf, sendAnthropicEvents } from '../support/fake-anthropic';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

type Json = Record<string, unknown>;

const WEATHER = {
  name: 'get_weather',
  description: 'The weather in a city, now.',
  input_schema: {
    type: 'object' as const,
    properties: { city: { type: 'string' } },
    required: ['city'],
  },
};

const TOOL_ANSWER = (model: string) =>
  anthropicMessage(
    model,
    [
      { type: 'text', text: 'Let me look that up.' },
      { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
    ],
    { input_tokens: 100, output_tokens: 20 },
    'tool_use',
  );

describe('Anthropic: the ANTHROPIC provider kind and the /v1/messages door', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let gatewayUrl: string;
  let admin: string;

  /** A project with Claude on an ANTHROPIC provider and deepseek on an OpenAI-compatible one. */
  async function project(name: string): Promise<{ projectId: string; adminKey: string }> {
    const created = await t.createProject(name);
    const providers = [
      {
        name: 'anthropic',
        kind: 'ANTHROPIC',
        baseUrl: upstream.baseUrl.replace(/\/v1$/, ''),
        upstreamKeys: ['sk-ant-upstream'],
      },
      { name: 'openai', kind: 'OPENAI_COMPATIBLE', baseUrl: upstream.baseUrl, upstreamKeys: ['sk-openai'] },
    ];
    for (const input of providers) {
      await t.ok(
        'mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }',
        { input },
        created.adminKey,
      );
    }
    const models = [
      {
        name: 'claude-sonnet-4.5',
        upstreamName: 'claude-sonnet-4-5-20250929',
        provider: 'anthropic',
        promptPrice: '3.00',
        cachedPromptPrice: '0.30',
        cacheWritePrice: '3.75',
        completionPrice: '15.00',
        tiers: ['COMPLEX'],
      },
      {
        name: 'deepseek-chat',
        provider: 'openai',
        promptPrice: '0.14',
        completionPrice: '0.42',
        tiers: ['SIMPLE'],
      },
    ];
    for (const input of models) {
      await t.ok(
        'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
        { input },
        created.adminKey,
      );
    }
    return created;
  }

  const anthropic = (key: string, options: Partial<ConstructorParameters<typeof Anthropic>[0]> = {}) =>
    new Anthropic({ apiKey: key, baseURL: gatewayUrl, maxRetries: 0, ...options });
  const openai = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gatewayUrl}/v1`, maxRetries: 0 });
  const lastCall = () => upstream.calls.at(-1)!;
  const lastBody = () => lastCall().body as unknown as Json;
  const record = async (requestId: string) =>
    (
      (await t.app.db.query(
        `SELECT cost::text, prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens, outcome, model_served
         FROM usage_records WHERE request_id = $1`,
        [requestId],
      )) as Json[]
    )[0];

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
    gatewayUrl = t.app.url.replace('/graphql', '');
    ({ adminKey: admin } = await project('anthropic'));
  }, 120_000);
  afterAll(() => t.close());
  beforeEach(() => upstream.reset());

  describe('the Anthropic SDK on /v1/messages, passed through to an Anthropic upstream', () => {
    it('plain, with tools: the request arrives intact with the upstream key, the tool_use answer comes back whole, charged exactly', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'sdk-plain');
      upstream.handler = (call, res) => sendJson(res, 200, TOOL_ANSWER(call.body.model));
      const request = {
        model: 'claude-sonnet-4.5',
        max_tokens: 300,
        system: [{ type: 'text' as const, text: 'Be brief.', cache_control: { type: 'ephemeral' as const } }],
        messages: [{ role: 'user' as const, content: 'Weather in Paris?' }],
        tools: [WEATHER],
        tool_choice: { type: 'auto' as const },
        top_k: 5,
        metadata: { user_id: 'u-1' },
      };
      const message = await anthropic(key).messages.create(request, {
        headers: { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'prompt-caching-2024-07-31' },
      });
      expect(lastCall().path).toBe('/v1/messages');
      expect(lastBody()).toEqual({ ...request, model: 'claude-sonnet-4-5-20250929' });
      expect(lastCall().headers['x-api-key']).toBe('sk-ant-upstream');
      expect(lastCall().headers.authorization).toBeUndefined();
      expect(lastCall().headers['anthropic-version']).toBe('2023-06-01');
      expect(lastCall().headers['anthropic-beta']).toBe('prompt-caching-2024-07-31');
      const { tollgate, ...rest } = message as typeof message & { tollgate: Json };
      expect(rest).toEqual(TOOL_ANSWER('claude-sonnet-4-5-20250929'));
      // 100 x 3.00 + 20 x 15.00 per million
      expect(tollgate).toMatchObject({ cost: '0.0006', model: 'claude-sonnet-4.5' });
      expect(await record(tollgate.request_id as string)).toMatchObject({
        cost: '0.000600000000',
        prompt_tokens: 100,
        completion_tokens: 20,
        outcome: 'SUCCESS',
      });
    });

    it('streamed: the upstream events pass through, finalMessage() rebuilds the tool call, charged exactly', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'sdk-stream');
      upstream.handler = (call, res) => void sendAnthropicEvents(res, eventsOf(TOOL_ANSWER(call.body.model)));
      const stream = anthropic(key).messages.stream({
        model: 'claude-sonnet-4.5',
        max_tokens: 300,
        messages: [{ role: 'user', content: 'Weather in Paris, streamed?' }],
        tools: [WEATHER],
      });
      const kinds: string[] = [];
      stream.on('streamEvent', (event) => kinds.push(event.type));
      const final = await stream.finalMessage();
      expect(lastBody().stream).toBe(true);
      expect(final.content).toEqual([
        { type: 'text', text: 'Let me look that up.' },
        { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
      ]);
      expect(final.stop_reason).toBe('tool_use');
      expect(final.usage).toMatchObject({ input_tokens: 100, output_tokens: 20 });
      expect(kinds[0]).toBe('message_start');
      expect(kinds.slice(-2)).toEqual(['message_delta', 'message_stop']);
      // On the wire, the upstream's own sequence, pings included (the SDK skips those).
      const raw = await fetch(`${gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({
          model: 'claude-sonnet-4.5',
          max_tokens: 300,
          stream: true,
          messages: [{ role: 'user', content: 'Weather in Paris, raw?' }],
        }),
      });
      const names = [...(await raw.text()).matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
      expect(names).toEqual(eventsOf(TOOL_ANSWER('x')).map((e) => e.type));
      const requestId = stream.request_id ?? '';
      expect(await record(requestId)).toMatchObject({ cost: '0.000600000000', outcome: 'SUCCESS' });
    });

    it('the worked example: input 3, cache write 12,304, output 550 costs exactly $0.054399, in the record and the counter', async () => {
      await clearOfMidnight();
      const fresh = await project('anthropic-worked');
      const budget = await t.createBudget(fresh.adminKey, { period: 'DAILY', limitUsd: '10' });
      const { key } = await t.createKey(fresh.adminKey, 'CLIENT', 'worked');
      upstream.handler = (call, res) =>
        sendJson(
          res,
          200,
          anthropicMessage(call.body.model, [{ type: 'text', text: 'Done.' }], {
            input_tokens: 3,
            cache_creation_input_tokens: 12_304,
            cache_read_input_tokens: 0,
            output_tokens: 550,
          }),
        );
      const message = (await anthropic(key).messages.create({
        model: 'claude-sonnet-4.5',
        max_tokens: 1000,
        messages: [
          {
            role: 'user',
            content: [{ type: 'text', text: 'The long document...', cache_control: { type: 'ephemeral' } }],
          },
        ],
      })) as Anthropic.Message & { tollgate: Json };
      expect(message.usage).toMatchObject({
        input_tokens: 3,
        cache_creation_input_tokens: 12_304,
        output_tokens: 550,
      });
      expect(message.tollgate.cost).toBe('0.054399');
      expect(await record(message.tollgate.request_id as string)).toMatchObject({
        cost: '0.054399000000',
        prompt_tokens: 12_307,
        cache_write_tokens: 12_304,
        cached_prompt_tokens: 0,
        completion_tokens: 550,
      });
      expect(await ledger(t, fresh.projectId, budget)).toMatchObject({
        spent: parseUsd('0.054399'),
        reserved: 0n,
      });
    });

    it('a spent budget: 402 billing_error with x-should-retry false, sent once and not retried', async () => {
      const fresh = await project('anthropic-402');
      await t.createBudget(fresh.adminKey, { period: 'DAILY', limitUsd: '0.000001' });
      const { key } = await t.createKey(fresh.adminKey, 'CLIENT', 'broke');
      let requests = 0;
      const client = anthropic(key, {
        maxRetries: 3,
        fetch: (url: string | URL | Request, init?: RequestInit) => {
          requests++;
          return fetch(url, init);
        },
      });
      const refused = await client.messages
        .create({ model: 'claude-sonnet-4.5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Anthropic.APIError);
      const error = refused as InstanceType<typeof Anthropic.APIError>;
      expect(error.status).toBe(402);
      expect(error.error).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
      expect(error.headers?.get('x-should-retry')).toBe('false');
      expect(requests).toBe(1);
      expect(upstream.calls).toHaveLength(0);
    });

    it('past a rate limit: 429 rate_limit_error with retry-after', async () => {
      const created = await t.ok<{ createApiKey: { key: string } }>(
        'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { name: 'slow', role: 'CLIENT', rpmLimit: 1 } },
        admin,
      );
      upstream.handler = (call, res) => sendJson(res, 200, TOOL_ANSWER(call.body.model));
      const client = anthropic(created.createApiKey.key);
      const ask = () =>
        client.messages.create({
          model: 'claude-sonnet-4.5',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'hi' }],
        });
      await ask();
      const limited = (await ask().catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
      expect(limited.status).toBe(429);
      expect(limited.error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
      expect(Number(limited.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    });

    it('a bad key: 401 authentication_error in Anthropic shape, by x-api-key as by Bearer', async () => {
      const bearer = (await anthropic('tg_not_a_real_key_000000000000')
        .messages.create({
          model: 'claude-sonnet-4.5',
          max_tokens: 10,
          messages: [{ role: 'user', content: 'x' }],
        })
        .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
      expect(bearer.status).toBe(401);
      expect(bearer.error).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: expect.any(String) },
        request_id: expect.any(String),
      });
      const { key } = await t.createKey(admin, 'CLIENT', 'x-api-key');
      upstream.handler = (call, res) => sendJson(res, 200, TOOL_ANSWER(call.body.model));
      const response = await fetch(`${gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({
          model: 'claude-sonnet-4.5',
          max_tokens: 10,
          messages: [{ role: 'user', content: 'x' }],
        }),
      });
      expect(response.status).toBe(200);
    });

    it('an upstream overload: 529 overloaded_error after the retries', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'overload');
      upstream.handler = (_call, res) => anthropicError(res, 529, 'overloaded_error', 'Overloaded');
      const error = (await anthropic(key)
        .messages.create({
          model: 'claude-sonnet-4.5',
          max_tokens: 10,
          messages: [{ role: 'user', content: 'x' }],
        })
        .catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
      expect(error.status).toBe(529);
      expect(error.error).toMatchObject({ error: { type: 'overloaded_error' } });
      expect(upstream.calls.length).toBeGreaterThan(1); // retried upstream first
    });

    it('count_tokens answers from the estimate, with the model margin', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'count');
      const counted = await anthropic(key).messages.countTokens({
        model: 'claude-sonnet-4.5',
        messages: [{ role: 'user', content: 'How many tokens is this sentence, roughly?' }],
        tools: [WEATHER],
      });
      expect(counted.input_tokens).toBeGreaterThan(20);
      expect(upstream.calls).toHaveLength(0);
    });
  });

  it('a stream the client cuts: charged the tokens produced, nothing left reserved', async () => {
    await clearOfMidnight();
    const fresh = await project('anthropic-cut');
    const budget = await t.createBudget(fresh.adminKey, { period: 'DAILY', limitUsd: '10' });
    const { key } = await t.createKey(fresh.adminKey, 'CLIENT', 'cut');
    const long = anthropicMessage('claude', [{ type: 'text', text: 'word '.repeat(200) }], {
      input_tokens: 50,
      output_tokens: 200,
    });
    let upstreamAborted = false;
    upstream.handler = async (_call, res) => {
      upstreamAborted = (await sendAnthropicEvents(res, eventsOf(long), 20)).aborted;
    };
    const stream = anthropic(key).messages.stream({
      model: 'claude-sonnet-4.5',
      max_tokens: 1000,
      messages: [{ role: 'user', content: 'Talk for a while.' }],
    });
    let pieces = 0;
    stream.on('text', () => {
      if (++pieces === 5) stream.abort();
    });
    await stream.done().catch(() => undefined);
    await eventually(
      () => upstreamAborted,
      (aborted) => aborted === true,
    );
    const books = await eventually(
      () => ledger(t, fresh.projectId, budget),
      (b) => b.usageRows === 1 && b.activeReservations === 0,
    );
    expect(books.reserved).toBe(0n);
    expect(books.spent).toBe(books.usageCost);
    const [row] = (await t.app.db.query(
      `SELECT outcome, completion_tokens FROM usage_records WHERE project_id = $1`,
      [fresh.projectId],
    )) as { outcome: string; completion_tokens: number }[];
    expect(row!.outcome).toBe('CANCELLED');
    expect(row!.completion_tokens).toBeGreaterThanOrEqual(5);
    expect(row!.completion_tokens).toBeLessThan(200);
  });

  describe('the openai SDK to an ANTHROPIC provider (translated)', () => {
    it('tools, system, stop and max_tokens are mapped; the tool_use answer comes back as tool_calls with cache usage', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'oa-to-claude');
      upstream.handler = (call, res) =>
        sendJson(res, 200, {
          ...TOOL_ANSWER(call.body.model),
          usage: {
            input_tokens: 40,
            cache_read_input_tokens: 1000,
            cache_creation_input_tokens: 60,
            output_tokens: 20,
          },
        });
      const completion = await openai(key).chat.completions.create({
        model: 'claude-sonnet-4.5',
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Weather in Paris?' },
        ],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema } }],
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        stop: ['END'],
        max_tokens: 200,
        prompt_cache_key: 'tenant-7',
      });
      expect(lastCall().path).toBe('/v1/messages');
      expect(lastCall().headers['anthropic-version']).toBe('2023-06-01');
      expect(lastCall().headers['x-api-key']).toBe('sk-ant-upstream');
      expect(lastBody()).toMatchObject({
        model: 'claude-sonnet-4-5-20250929',
        system: 'Be brief.',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ name: 'get_weather', input_schema: WEATHER.input_schema }],
        tool_choice: { type: 'tool', name: 'get_weather' },
        stop_sequences: ['END'],
        max_tokens: 200,
      });
      expect(completion.choices[0]!.message.tool_calls).toEqual([
        {
          id: 'toolu_01',
          type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
        },
      ]);
      expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
      expect(completion.usage).toMatchObject({
        prompt_tokens: 1100,
        completion_tokens: 20,
        prompt_tokens_details: { cached_tokens: 1000, cache_write_tokens: 60 },
      });
      // 40 x 3.00 + 1,000 x 0.30 + 60 x 3.75 + 20 x 15.00 per million
      const { tollgate } = completion as unknown as { tollgate: Json };
      expect(tollgate.cost).toBe('0.000945');
      // A cost hint Anthropic has no place for: not sent, and said so.
      expect(lastBody().prompt_cache_key).toBeUndefined();
      expect(tollgate.dropped).toEqual([expect.stringMatching(/^prompt_cache_key: /)]);
    });

    it('streams tool-call deltas the SDK helper rebuilds', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'oa-stream-claude');
      upstream.handler = (call, res) => void sendAnthropicEvents(res, eventsOf(TOOL_ANSWER(call.body.model)));
      const deltas: unknown[] = [];
      const stream = openai(key)
        .chat.completions.stream({
          model: 'claude-sonnet-4.5',
          messages: [{ role: 'user', content: 'Weather in Paris?' }],
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema } }],
          max_tokens: 200,
          stream_options: { include_usage: true },
        })
        .on('chunk', (c) => {
          if (c.choices[0]?.delta.tool_calls) deltas.push(c.choices[0].delta.tool_calls);
        });
      const final = await stream.finalChatCompletion();
      expect(deltas.length).toBeGreaterThanOrEqual(3); // the call's start, then its arguments in pieces
      expect(final.choices[0]!.message.tool_calls![0]).toMatchObject({
        id: 'toolu_01',
        function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
      });
      expect(final.choices[0]!.message.content).toBe('Let me look that up.');
      expect(final.usage).toMatchObject({ prompt_tokens: 100, completion_tokens: 20 });
    });

    it('a parameter with no Anthropic equivalent is refused with a 400 naming it, never sent', async () => {
      const refusedKey = await t.createKey(admin, 'CLIENT', 'oa-refused');
      const { key } = refusedKey;
      await expect(
        openai(key).chat.completions.create({
          model: 'claude-sonnet-4.5',
          messages: [{ role: 'user', content: 'hi' }],
          logprobs: true,
          max_tokens: 10,
        }),
      ).rejects.toMatchObject({ status: 400, error: { param: 'logprobs' } });
      expect(upstream.calls).toHaveLength(0);
      expect(await t.count('usage_records', 'api_key_id = $1', [refusedKey.id])).toBe(0);
    });
  });

  describe('the Anthropic SDK to an OpenAI-compatible provider (translated)', () => {
    it('the request is translated, and the answer translated back, tool call included', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'claude-to-oa');
      upstream.handler = (call, res) =>
        sendJson(res, 200, {
          ...completionBody(call.body.model, 30, 10, ''),
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: 'Checking.',
                tool_calls: [
                  {
                    id: 'call_7',
                    type: 'function',
                    function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
                  },
                ],
              },
              finish_reason: 'tool_calls',
            },
          ],
        });
      const message = await anthropic(key).messages.create({
        model: 'deepseek-chat',
        max_tokens: 100,
        system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
        tools: [WEATHER],
        stop_sequences: ['END'],
      });
      expect((message as unknown as { tollgate: Json }).tollgate.dropped).toEqual([
        expect.stringMatching(/^system\[0\]\.cache_control: /),
      ]);
      expect(lastCall().path).toBe('/v1/chat/completions');
      expect(lastBody()).toMatchObject({
        model: 'deepseek-chat',
        messages: [
          { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
          { role: 'user', content: 'Weather in Oslo?' },
        ],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema } }],
        stop: ['END'],
        max_tokens: 100,
      });
      expect(message.content).toEqual([
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'call_7', name: 'get_weather', input: { city: 'Oslo' } },
      ]);
      expect(message.stop_reason).toBe('tool_use');
      expect(message.usage).toMatchObject({ input_tokens: 30, output_tokens: 10 });
    });

    it('streamed: OpenAI chunks become Anthropic events; a field only Anthropic takes is refused, naming it', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'claude-to-oa-stream');
      upstream.handler = (call, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const chunk = (choices: unknown[], extra: Json = {}) =>
          res.write(
            `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: call.body.model, choices, ...extra })}\n\n`,
          );
        chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
        for (const piece of ['Sunny ', 'in ', 'Oslo.'])
          chunk([{ index: 0, delta: { content: piece }, finish_reason: null }]);
        chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]);
        chunk([], { usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });
        res.end('data: [DONE]\n\n');
      };
      const client = anthropic(key);
      const final = await client.messages
        .stream({
          model: 'deepseek-chat',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'Weather?' }],
        })
        .finalMessage();
      expect(final.content).toEqual([{ type: 'text', text: 'Sunny in Oslo.' }]);
      expect(final.stop_reason).toBe('end_turn');
      expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 3 });
      const calls = upstream.calls.length;
      await expect(
        client.messages.create({
          model: 'deepseek-chat',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'hi' }],
          ...{ top_k: 3 },
        }),
      ).rejects.toMatchObject({
        status: 400,
        error: { error: { type: 'invalid_request_error', message: expect.stringContaining('top_k') } },
      });
      expect(upstream.calls).toHaveLength(calls);
    });
  });

  it('GraphQL reaches Claude with tools, through the translation', async () => {
    const { key } = await t.createKey(admin, 'CLIENT', 'gql-claude');
    upstream.handler = (call, res) => sendJson(res, 200, TOOL_ANSWER(call.body.model));
    const data = await t.ok<{
      createChatCompletion: { toolCalls: Json[]; cost: string; routing: { provider: string } };
    }>(
      `mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) {
         toolCalls { id function { name arguments } } cost routing { provider } } }`,
      {
        input: {
          model: 'claude-sonnet-4.5',
          messages: user('Weather in Paris?'),
          maxTokens: 100,
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER.input_schema } }],
        },
      },
      key,
    );
    expect(data.createChatCompletion).toEqual({
      toolCalls: [{ id: 'toolu_01', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      cost: '0.0006',
      routing: { provider: 'anthropic' },
    });
    expect(lastBody().tools).toEqual([{ name: 'get_weather', input_schema: WEATHER.input_schema }]);
  });

  it('the simulated provider speaks Anthropic offline: the second call on a cached prefix reads it', async () => {
    const offline = await t.createProject('simulated-anthropic');
    await t.ok(
      'mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }',
      { input: { name: 'sim', kind: 'SIMULATED', simulation: { wire: 'ANTHROPIC' } } },
      offline.adminKey,
    );
    await t.ok(
      'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
      {
        input: {
          name: 'claude-sonnet-4.5',
          provider: 'sim',
          promptPrice: '3.00',
          cachedPromptPrice: '0.30',
          cacheWritePrice: '3.75',
          completionPrice: '15.00',
          tiers: ['COMPLEX'],
        },
      },
      offline.adminKey,
    );
    const { key } = await t.createKey(offline.adminKey, 'CLIENT', 'sim');
    const manual = 'The operating manual of the gateway, chapter by chapter. '.repeat(150);
    const ask = () =>
      anthropic(key).messages.create({
        model: 'claude-sonnet-4.5',
        max_tokens: 100,
        system: [{ type: 'text', text: manual, cache_control: { type: 'ephemeral' } }],
        messages: [{ role: 'user', content: 'Summarise chapter one.' }],
      }) as unknown as Promise<Anthropic.Message & { tollgate: Json }>;
    const first = await ask();
    const second = await ask();
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(1024);
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(parseUsd(second.tollgate.cost as string)).toBeLessThan(parseUsd(first.tollgate.cost as string));
    expect(parseUsd(second.tollgate.cache_savings as string)).toBeGreaterThan(0n);
  });
});

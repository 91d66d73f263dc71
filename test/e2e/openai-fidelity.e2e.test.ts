import type http from 'node:http';
import OpenAI from 'openai';
import { estimatePromptTokens } from '../../src/shared/prompt-estimate';
import { parseUsd } from '../../src/shared/money';
import { countTextTokens } from '../../src/shared/tokenizer';
import { addBillingCatalog, clearOfMidnight, ledger } from '../support/billing';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { TestServer, user } from '../support/harness';

type Json = Record<string, unknown>;

/** Writes OpenAI chunks as server-sent events, then [DONE]. */
function sendChunks(res: http.ServerResponse, chunks: Json[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const chunk of chunks) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  res.end('data: [DONE]\n\n');
}

const chunk = (model: string, choices: unknown[], extra: Json = {}): Json => ({
  id: 'chatcmpl-fidelity',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model,
  system_fingerprint: 'fp_fidelity',
  choices,
  ...extra,
});

const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city, now.',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
    strict: true,
  },
};

/** The worked example of the issue: 10,000 prompt (8,000 cached), 500 completion (300 reasoning). */
const WORKED_USAGE = {
  prompt_tokens: 10_000,
  completion_tokens: 500,
  total_tokens: 10_500,
  prompt_tokens_details: { cached_tokens: 8_000, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 300,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
};

describe('OpenAI door fidelity: nothing sent or answered is lost, every token class priced', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let admin: string;
  let projectId: string;
  let sdk: (key: string) => OpenAI;
  const lastBody = () => upstream.calls.at(-1)!.body as unknown as Json;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
    ({ adminKey: admin, projectId } = await t.createProject('fidelity'));
    await addBillingCatalog(t, admin, upstream.baseUrl);
    // gpt-4.1 with its cache price, as OpenAI lists it; an embedding model in no tier.
    for (const input of [
      {
        name: 'gpt-4.1',
        promptPrice: '2.00',
        cachedPromptPrice: '0.50',
        completionPrice: '8.00',
        tiers: ['COMPLEX'],
      },
      { name: 'text-embedding-3-small', promptPrice: '0.02', completionPrice: '0', tiers: [] },
    ]) {
      await t.ok(
        'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
        { input: { ...input, provider: 'upstream', promptMargin: 0 } },
        admin,
      );
    }
    sdk = (key) => new OpenAI({ apiKey: key, baseURL: t.app.url.replace('/graphql', '/v1'), maxRetries: 0 });
  }, 120_000);
  afterAll(() => t.close());
  beforeEach(() => upstream.reset());

  it('every request field reaches the upstream deep-equal: tools, formats, sampling, unknown fields', async () => {
    const { key } = await t.createKey(admin, 'CLIENT', 'every-field');
    const request = {
      model: 'deepseek-chat',
      messages: [
        { role: 'developer', content: 'Answer with the tool.' },
        { role: 'user', content: 'Weather in Paris?', name: 'alice' },
      ],
      tools: [WEATHER_TOOL],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      parallel_tool_calls: false,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'weather',
          strict: true,
          schema: { type: 'object', properties: { temp: { type: 'number' } }, required: ['temp'] },
        },
      },
      stop: ['\n\n', 'END'],
      seed: 42,
      temperature: 0.3,
      top_p: 0.9,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
      logit_bias: { '50256': -100 },
      logprobs: true,
      top_logprobs: 3,
      user: 'user-123',
      metadata: { team: 'search' },
      reasoning_effort: 'low',
      max_completion_tokens: 300,
      service_tier: 'default',
      store: false,
      prediction: { type: 'content', content: 'It is sunny.' },
      modalities: ['text', 'audio'],
      audio: { voice: 'alloy', format: 'wav' },
      n: 2,
      verbosity: 'low',
      a_field_from_next_year: { anything: [1, 'two', null] },
    };
    await sdk(key).chat.completions.create(
      request as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming,
    );
    expect(upstream.calls).toHaveLength(1);
    expect(upstream.calls[0]!.path).toBe('/v1/chat/completions');
    expect(lastBody()).toEqual(request);
  });

  it('a tool-call answer comes back whole: every choice, logprobs, fingerprint, tier, usage details', async () => {
    const { key } = await t.createKey(admin, 'CLIENT', 'answer');
    const answer = {
      id: 'chatcmpl-abc',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'deepseek-chat',
      system_fingerprint: 'fp_44709d6fcb',
      service_tier: 'default',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            refusal: null,
            annotations: [],
            tool_calls: [
              {
                id: 'call_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
              },
              {
                id: 'call_2',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo","unit":"c"}' },
              },
            ],
          },
          logprobs: {
            content: [{ token: 'x', logprob: -0.1, bytes: [120], top_logprobs: [] }],
            refusal: null,
          },
          finish_reason: 'tool_calls',
        },
        {
          index: 1,
          message: { role: 'assistant', content: null, refusal: "I can't help with that." },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: {
        prompt_tokens: 120,
        completion_tokens: 40,
        total_tokens: 160,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
      },
    };
    upstream.handler = (_call, res) => sendJson(res, 200, answer);
    const completion = await sdk(key).chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'Weather in Paris and Oslo?' }],
      tools: [WEATHER_TOOL],
      n: 2,
      max_tokens: 100,
    });
    const { tollgate, ...rest } = completion as typeof completion & { tollgate: Json };
    expect(rest).toEqual(answer);
    // 120 x 0.14 + 40 x 0.42 per million
    expect(tollgate).toMatchObject({ cost: '0.0000336', model: 'deepseek-chat' });
  });

  it('the next turn arrives whole: assistant tool_calls, tool messages, names, image, audio and file parts', async () => {
    const { key } = await t.createKey(admin, 'CLIENT', 'next-turn');
    const messages = [
      { role: 'system', content: 'You are terse.' },
      {
        role: 'user',
        name: 'bob',
        content: [
          { type: 'text', text: 'What is in this picture, and what is the weather there?' },
          { type: 'image_url', image_url: { url: 'https://example.com/paris.png', detail: 'low' } },
          { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
          {
            type: 'file',
            file: { filename: 'notes.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
          },
        ],
      },
      {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          {
            id: 'call_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp":21}' },
    ];
    await sdk(key).chat.completions.create({
      model: 'deepseek-chat',
      messages: messages as OpenAI.ChatCompletionMessageParam[],
      tools: [WEATHER_TOOL],
      max_tokens: 100,
    });
    expect(lastBody().messages).toEqual(messages);
  });

  it('streams tool-call deltas chunk by chunk: the SDK stream helper rebuilds the call', async () => {
    const { key } = await t.createKey(admin, 'CLIENT', 'stream-tool');
    upstream.handler = (call, res) =>
      sendChunks(res, [
        chunk(call.body.model, [
          { index: 0, delta: { role: 'assistant', content: null }, finish_reason: null },
        ]),
        chunk(call.body.model, [
          {
            index: 0,
            delta: {
              tool_calls: [
                {
                  index: 0,
                  id: 'call_9',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '' },
                },
              ],
            },
            finish_reason: null,
          },
        ]),
        ...['{"city":', '"Paris",', '"unit":"c"}'].map((piece) =>
          chunk(call.body.model, [
            {
              index: 0,
              delta: { tool_calls: [{ index: 0, function: { arguments: piece } }] },
              finish_reason: null,
            },
          ]),
        ),
        chunk(call.body.model, [{ index: 0, delta: {}, finish_reason: 'tool_calls' }]),
        chunk(call.body.model, [], {
          usage: { prompt_tokens: 80, completion_tokens: 20, total_tokens: 100 },
        }),
      ]);
    const toolDeltas: unknown[] = [];
    const stream = sdk(key)
      .chat.completions.stream({
        model: 'deepseek-chat',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [WEATHER_TOOL],
        max_tokens: 100,
      })
      .on('chunk', (c) => {
        if (c.choices[0]?.delta.tool_calls) toolDeltas.push(c.choices[0].delta.tool_calls);
      });
    const final = await stream.finalChatCompletion();
    expect(toolDeltas).toHaveLength(4);
    expect(final.choices[0]!.message.tool_calls).toEqual([
      {
        id: 'call_9',
        type: 'function',
        function: {
          name: 'get_weather',
          arguments: '{"city":"Paris","unit":"c"}',
          parsed_arguments: { city: 'Paris', unit: 'c' },
        },
      },
    ]);
    expect(final.choices[0]!.finish_reason).toBe('tool_calls');
    expect(final.system_fingerprint).toBe('fp_fidelity');
    // Tollgate asked for the stream's usage; the client, who did not, got no usage chunk.
    expect(lastBody().stream_options).toEqual({ include_usage: true });
    expect(final.usage).toBeUndefined();
  });

  describe('the worked pricing example: $0.012000 exactly', () => {
    // 2,000 x $2.00 + 8,000 x $0.50 + 500 x $8.00 (the 300 reasoning tokens are inside the 500)
    const EXACT = parseUsd('0.012');

    it('in the usage record, the budget counter and the client usage', async () => {
      await clearOfMidnight();
      const fresh = await t.createProject('worked');
      await addBillingCatalog(t, fresh.adminKey, upstream.baseUrl);
      await t.ok(
        'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
        {
          input: {
            name: 'gpt-4.1',
            provider: 'upstream',
            promptPrice: '2.00',
            cachedPromptPrice: '0.50',
            completionPrice: '8.00',
            tiers: ['COMPLEX'],
          },
        },
        fresh.adminKey,
      );
      const budget = await t.createBudget(fresh.adminKey, { period: 'DAILY', limitUsd: '10' });
      const { key } = await t.createKey(fresh.adminKey, 'CLIENT', 'worked');
      upstream.handler = (call, res) =>
        sendJson(res, 200, { ...completionBody(call.body.model, 0, 0), usage: WORKED_USAGE });
      const completion = await sdk(key).chat.completions.create({
        model: 'gpt-4.1',
        messages: [{ role: 'user', content: 'Summarise the cached document.' }],
        max_tokens: 1000,
      });
      expect(completion.usage).toEqual(WORKED_USAGE);
      expect((completion as unknown as { tollgate: Json }).tollgate).toMatchObject({
        cost: '0.012',
        cache_savings: '0.012', // 8,000 x (2.00 - 0.50)
      });
      const [row] = (await t.app.db.query(
        `SELECT cost::text, cached_prompt_tokens, cache_write_tokens, reasoning_tokens, cache_savings::text, priced
           FROM usage_records WHERE project_id = $1`,
        [fresh.projectId],
      )) as Json[];
      expect(row).toEqual({
        cost: '0.012000000000',
        cached_prompt_tokens: 8000,
        cache_write_tokens: 0,
        reasoning_tokens: 300,
        cache_savings: '0.012000000000',
        priced: true,
      });
      const books = await ledger(t, fresh.projectId, budget);
      expect(books).toMatchObject({ spent: EXACT, reserved: 0n, usageCost: EXACT });
      // The reports show the classes and what the cache saved.
      const reports = await t.ok<{
        usage: { total: Json };
        usageRecords: { nodes: Json[] };
        routingReport: { cacheSavings: string; baselineCost: string; routes: Json[] };
      }>(
        `{ usage(input: { from: "2020-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z", groupBy: KIND }) {
             total { promptTokens cachedPromptTokens cacheWriteTokens reasoningTokens cost cacheSavings } }
           usageRecords(first: 1) { nodes { kind cachedPromptTokens reasoningTokens cost cacheSavings priced priceNote } }
           routingReport(from: "2020-01-01T00:00:00Z", to: "2100-01-01T00:00:00Z", baselineModel: "gpt-4.1") {
             cacheSavings baselineCost routes { key cachedPromptTokens cacheSavings } } }`,
        {},
        key,
      );
      expect(reports.usage.total).toEqual({
        promptTokens: 10_000,
        cachedPromptTokens: 8_000,
        cacheWriteTokens: 0,
        reasoningTokens: 300,
        cost: '0.012',
        cacheSavings: '0.012',
      });
      expect(reports.usageRecords.nodes).toEqual([
        {
          kind: 'CHAT',
          cachedPromptTokens: 8_000,
          reasoningTokens: 300,
          cost: '0.012',
          cacheSavings: '0.012',
          priced: true,
          priceNote: null,
        },
      ]);
      // The baseline is the same model: the same tokens at its cache price cost the same.
      expect(reports.routingReport).toEqual({
        cacheSavings: '0.012',
        baselineCost: '0.012',
        routes: [{ key: 'EXPLICIT:gpt-4.1', cachedPromptTokens: 8_000, cacheSavings: '0.012' }],
      });
    });

    it('the same through a stream with include_usage: the usage chunk carries the classes and the exact cost', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'worked-stream');
      upstream.handler = (call, res) =>
        sendChunks(res, [
          chunk(call.body.model, [
            { index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null },
          ]),
          chunk(call.body.model, [{ index: 0, delta: { content: 'Summary.' }, finish_reason: null }]),
          chunk(call.body.model, [{ index: 0, delta: {}, finish_reason: 'stop' }]),
          chunk(call.body.model, [], { usage: WORKED_USAGE }),
        ]);
      const stream = await sdk(key).chat.completions.create({
        model: 'gpt-4.1',
        messages: [{ role: 'user', content: 'Summarise the cached document, streamed.' }],
        max_tokens: 1000,
        stream: true,
        stream_options: { include_usage: true },
      });
      const chunks: (OpenAI.ChatCompletionChunk & { tollgate?: Json })[] = [];
      for await (const c of stream) chunks.push(c);
      const last = chunks.at(-1)!;
      expect(last.usage).toEqual(WORKED_USAGE);
      expect(last.tollgate).toMatchObject({ cost: '0.012', cache_savings: '0.012' });
      const [row] = (await t.app.db.query(
        `SELECT cost::text, cached_prompt_tokens, reasoning_tokens FROM usage_records WHERE request_id = $1`,
        [last.tollgate!.request_id],
      )) as Json[];
      expect(row).toEqual({ cost: '0.012000000000', cached_prompt_tokens: 8000, reasoning_tokens: 300 });
    });

    it('a class the model has no price for is charged at the prompt price and flagged', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'unpriced-class');
      upstream.handler = (call, res) =>
        sendJson(res, 200, { ...completionBody(call.body.model, 0, 0), usage: WORKED_USAGE });
      // deepseek-chat has no cache price: 10,000 x 0.14 + 500 x 0.42
      const completion = await sdk(key).chat.completions.create({
        model: 'deepseek-chat',
        messages: [{ role: 'user', content: 'Cached, but unpriced.' }],
        max_tokens: 1000,
      });
      const tollgate = (completion as unknown as { tollgate: Json }).tollgate;
      expect(tollgate.cost).toBe('0.00161');
      expect(tollgate.price_note).toMatch(/cached/);
      const [row] = (await t.app.db.query(
        `SELECT priced, price_note FROM usage_records WHERE request_id = $1`,
        [tollgate.request_id],
      )) as { priced: boolean; price_note: string }[];
      expect(row!.priced).toBe(false);
      expect(row!.price_note).toMatch(/cached/);
    });
  });

  describe('embeddings', () => {
    it('through the SDK: vectors intact (float and base64), charged at the prompt price, kind EMBEDDING', async () => {
      const { key } = await t.createKey(admin, 'CLIENT', 'embed');
      const vectors = [
        [0.25, -0.5, 0.125],
        [1, 0, -1],
      ];
      upstream.handler = (call, res) => {
        const body = call.body as unknown as Json;
        const base64 = body.encoding_format === 'base64';
        sendJson(res, 200, {
          object: 'list',
          data: vectors.map((v, index) => ({
            object: 'embedding',
            index,
            embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
          })),
          model: body.model,
          usage: { prompt_tokens: 7, total_tokens: 7 },
        });
      };
      const client = sdk(key);
      const floats = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: ['hello world', 'goodbye'],
        encoding_format: 'float',
        dimensions: 3,
      });
      expect(upstream.calls[0]!.path).toBe('/v1/embeddings');
      expect(lastBody()).toEqual({
        model: 'text-embedding-3-small',
        input: ['hello world', 'goodbye'],
        encoding_format: 'float',
        dimensions: 3,
      });
      expect(floats.data.map((d) => d.embedding)).toEqual(vectors);
      expect(floats.usage).toEqual({ prompt_tokens: 7, total_tokens: 7 });
      // Without a format the SDK asks for base64 and decodes it: the same vectors.
      const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
      expect(lastBody().encoding_format).toBe('base64');
      expect(decoded.data.map((d) => d.embedding)).toEqual(vectors);
      const rows = (await t.app.db.query(
        `SELECT kind, cost::text, prompt_tokens, completion_tokens FROM usage_records
          WHERE model_served = 'text-embedding-3-small' AND project_id = $1`,
        [projectId],
      )) as Json[];
      // 7 tokens x $0.02 per million
      expect(rows).toEqual([
        { kind: 'EMBEDDING', cost: '0.000000140000', prompt_tokens: 7, completion_tokens: 0 },
        { kind: 'EMBEDDING', cost: '0.000000140000', prompt_tokens: 7, completion_tokens: 0 },
      ]);
    });

    it('402 when the budget is spent, 400 naming a bad input, and the model never routed or replaced', async () => {
      await clearOfMidnight();
      const fresh = await t.createProject('embed-budget');
      await addBillingCatalog(t, fresh.adminKey, upstream.baseUrl);
      await t.ok(
        'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
        {
          input: {
            name: 'text-embedding-3-small',
            provider: 'upstream',
            promptPrice: '1000',
            completionPrice: '0',
            tiers: [],
            promptMargin: 0,
          },
        },
        fresh.adminKey,
      );
      const { key } = await t.createKey(fresh.adminKey, 'CLIENT', 'embed-budget');
      const input = 'the quick brown fox';
      const tokens = countTextTokens(input);
      upstream.handler = (call, res) =>
        sendJson(res, 200, {
          object: 'list',
          data: [{ object: 'embedding', index: 0, embedding: [1, 0] }],
          model: call.body.model,
          usage: { prompt_tokens: tokens, total_tokens: tokens },
        });
      // Room for exactly one call, on a DOWNGRADE budget: an embedding is never moved to a chat model.
      const oneCall = (BigInt(tokens) * parseUsd('1000')) / 1_000_000n;
      const budget = await t.createBudget(fresh.adminKey, {
        period: 'DAILY',
        limitUsd: (Number(oneCall) / 1e12).toString(),
        policy: 'DOWNGRADE',
      });
      const client = sdk(key);
      await client.embeddings.create({ model: 'text-embedding-3-small', input, encoding_format: 'float' });
      await expect(
        client.embeddings.create({ model: 'text-embedding-3-small', input, encoding_format: 'float' }),
      ).rejects.toMatchObject({ status: 402 });
      expect(upstream.calls).toHaveLength(1);
      expect(await ledger(t, fresh.projectId, budget)).toMatchObject({ spent: oneCall, reserved: 0n });
      await expect(client.embeddings.create({ model: 'auto', input })).rejects.toMatchObject({
        status: 400,
        error: { param: 'model' },
      });
      await expect(
        client.embeddings.create({ model: 'text-embedding-3-small', input: [] as string[] }),
      ).rejects.toMatchObject({ status: 400, error: { param: 'input' } });
      expect(upstream.calls).toHaveLength(1);
    });

    it('the simulated provider embeds offline: deterministic unit vectors of the asked dimensions', async () => {
      const offline = await t.createProject('embed-sim');
      await t.addCatalog(offline.adminKey);
      await t.ok(
        'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }',
        {
          input: {
            name: 'text-embedding-3-small',
            provider: 'upstream',
            promptPrice: '0.02',
            completionPrice: '0',
            tiers: [],
          },
        },
        offline.adminKey,
      );
      const { key } = await t.createKey(offline.adminKey, 'CLIENT', 'sim-embed');
      const embed = (input: string[]) =>
        sdk(key).embeddings.create({ model: 'text-embedding-3-small', input, dimensions: 64 });
      const first = await embed(['alpha', 'beta']);
      const again = await embed(['alpha']);
      expect(first.data).toHaveLength(2);
      expect(first.data[0]!.embedding).toHaveLength(64);
      expect(again.data[0]!.embedding).toEqual(first.data[0]!.embedding);
      expect(first.data[1]!.embedding).not.toEqual(first.data[0]!.embedding);
      const norm = Math.hypot(...first.data[0]!.embedding);
      expect(norm).toBeCloseTo(1, 5);
      expect(first.usage.prompt_tokens).toBe(2);
    });
  });

  it('a budget sized for N calls with large tool schemas holds 3N concurrent calls: spend <= limit', async () => {
    await clearOfMidnight();
    const fresh = await t.createProject('tool-storm');
    await addBillingCatalog(t, fresh.adminKey, upstream.baseUrl);
    const { key } = await t.createKey(fresh.adminKey, 'CLIENT', 'tool-storm');
    // Tools far bigger than the messages: a reservation that ignored them would hold a tenth of the cost.
    const tools = Array.from({ length: 12 }, (_, i) => ({
      type: 'function' as const,
      function: {
        name: `lookup_${i}`,
        description: `Looks up record family ${i} by its many attributes. `.repeat(20),
        parameters: {
          type: 'object',
          properties: Object.fromEntries(
            Array.from({ length: 10 }, (_, j) => [
              `attribute_${j}`,
              { type: 'string', description: `The attribute number ${j} of the record.` },
            ]),
          ),
        },
      },
    }));
    const request = {
      model: 'deepseek-chat',
      messages: [{ role: 'user' as const, content: 'Find it.' }],
      tools,
      max_tokens: 10,
    };
    // The upstream bills the prompt as it counts it (tool definitions included) and every allowed completion token.
    upstream.handler = (call, res) => {
      const body = call.body as unknown as Json;
      const prompt = estimatePromptTokens(body).tokens;
      sendJson(res, 200, completionBody(call.body.model, prompt, call.body.max_tokens ?? 0));
    };
    const estimate = await t.ok<{ estimateCost: { promptTokens: number; worstCaseCost: string } }>(
      'query($input: EstimateCostInput!) { estimateCost(input: $input) { promptTokens worstCaseCost } }',
      { input: { model: request.model, messages: request.messages, maxTokens: 10, tools } },
      key,
    );
    expect(estimate.estimateCost.promptTokens).toBeGreaterThan(3_000);
    const N = 10;
    const limit = parseUsd(estimate.estimateCost.worstCaseCost) * BigInt(N);
    const budget = await t.createBudget(fresh.adminKey, {
      period: 'DAILY',
      limitUsd: (Number(limit) / 1e12).toFixed(12),
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 3 * N }, () => sdk(key).chat.completions.create(request)),
    );
    const served = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as { status?: number }).status === 402,
    ).length;
    expect(served + refused).toBe(3 * N);
    expect(served).toBe(N);
    const books = await ledger(t, fresh.projectId, budget);
    expect(books.spent).toBeLessThanOrEqual(limit);
    expect(books).toMatchObject({ reserved: 0n, spent: books.usageCost });
  });

  it('the GraphQL mutation and the stream subscription carry a tool call end to end', async () => {
    const offline = await t.createProject('gql-tools');
    await t.addCatalog(offline.adminKey);
    const { key } = await t.createKey(offline.adminKey, 'CLIENT', 'gql-tools');
    const input = {
      model: 'gpt-4.1',
      messages: user('Weather in Paris?'),
      tools: [WEATHER_TOOL],
      toolChoice: { type: 'function', function: { name: 'get_weather' } },
      maxTokens: 100,
    };
    const done = await t.ok<{
      createChatCompletion: { toolCalls: Json[]; finishReason: string; raw: Json };
    }>(
      `mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) {
         toolCalls { id type function { name arguments } } finishReason raw } }`,
      { input },
      key,
    );
    const call = done.createChatCompletion.toolCalls[0]!;
    expect(call).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{}' } });
    expect(done.createChatCompletion.finishReason).toBe('tool_calls');
    // The next turn, through GraphQL's typed message fields.
    const next = await t.ok<{ createChatCompletion: { content: string } }>(
      `mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { content } }`,
      {
        input: {
          model: 'gpt-4.1',
          tools: [WEATHER_TOOL],
          maxTokens: 100,
          messages: [
            ...user('Weather in Paris?'),
            { role: 'assistant', toolCalls: [call] },
            { role: 'tool', toolCallId: call.id, content: '{"temp":21}' },
          ],
        },
      },
      key,
    );
    expect(next.createChatCompletion.content).toContain('Simulated reply');

    const ws = t.wsClient(key);
    const events: { toolCalls: Json[]; done: boolean; completion: { toolCalls: Json[] } | null }[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.subscribe<{ chatCompletionStream: (typeof events)[number] }>(
        {
          query: `subscription($i: ChatCompletionInput!) { chatCompletionStream(input: $i) {
            toolCalls { index id name arguments } done completion { toolCalls { id function { name arguments } } } } }`,
          variables: { i: input },
        },
        { next: (m) => events.push(m.data!.chatCompletionStream), error: reject, complete: resolve },
      );
    });
    const deltas = events.flatMap((e) => e.toolCalls);
    expect(deltas).toEqual([{ index: 0, id: call.id, name: 'get_weather', arguments: '{}' }]);
    expect(events.at(-1)!.completion!.toolCalls).toEqual([
      { id: call.id, function: { name: 'get_weather', arguments: '{}' } },
    ]);
  });
});

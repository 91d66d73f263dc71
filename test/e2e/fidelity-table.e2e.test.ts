import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { FakeUpstream, sendJson } from '../support/fake-upstream';
import { TestServer } from '../support/harness';

type Json = Record<string, unknown>;

/** The rows of one of the README's fidelity tables: the backticked names of the first cell, and the second cell. */
function readmeTable(name: 'request' | 'response'): { names: string[]; says: string }[] {
  const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
  const start = readme.indexOf(`<!-- fidelity:${name} -->`);
  const end = readme.indexOf(`<!-- /fidelity:${name} -->`);
  if (start < 0 || end < start) throw new Error(`README has no fidelity:${name} table`);
  return readme
    .slice(start, end)
    .split('\n')
    .filter((line) => line.startsWith('| '))
    .slice(2) // the header and its rule
    .map((line) => {
      const [first = '', says = ''] = line.split('|').slice(1);
      const names = [...first.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      return { names: names.length > 0 ? names : [first.trim()], says: says.trim() };
    });
}

/** The fields of an interface in the installed openai SDK's type declarations. */
function sdkFields(file: string, iface: string): string[] {
  const text = fs.readFileSync(path.join(__dirname, '../../node_modules/openai', file), 'utf8');
  const body = new RegExp(`export interface ${iface} \\{([\\s\\S]*?)\\n\\}`).exec(text)?.[1];
  if (!body) throw new Error(`no interface ${iface} in openai/${file}`);
  return [...body.matchAll(/^ {4}([a-z_]+)\??:/gm)].map((m) => m[1]!);
}

const CHAT_TYPES = 'resources/chat/completions/completions.d.ts';

/** A value for every request field the table lists, as a client would send it. */
const REQUEST_SAMPLES: Json = {
  model: 'deepseek-chat',
  messages: [
    { role: 'system', content: 'Be terse.' },
    { role: 'user', name: 'ann', content: [{ type: 'text', text: 'Hi' }] },
  ],
  max_tokens: 64,
  max_completion_tokens: 64,
  n: 2,
  temperature: 0.2,
  tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
  tool_choice: 'auto',
  response_format: { type: 'json_object' },
  functions: [{ name: 'g', parameters: { type: 'object', properties: {} } }],
  function_call: 'auto',
  parallel_tool_calls: true,
  audio: { voice: 'alloy', format: 'mp3' },
  modalities: ['text'],
  prediction: { type: 'content', content: 'Hello' },
  frequency_penalty: 0.1,
  presence_penalty: -0.1,
  logit_bias: { '1234': 5 },
  logprobs: true,
  top_logprobs: 2,
  top_p: 0.5,
  seed: 7,
  stop: 'STOP',
  user: 'u-1',
  safety_identifier: 'hashed-user-1',
  metadata: { k: 'v' },
  store: true,
  reasoning_effort: 'minimal',
  verbosity: 'high',
  service_tier: 'flex',
  prompt_cache_key: 'cache-key-1',
  prompt_cache_retention: '24h',
  prompt_cache_options: { anything: true },
  moderation: { anything: true },
  web_search_options: { search_context_size: 'low' },
  'any other field': { a_field_from_next_year: [1, { b: null }] },
};
/** Fields that only make sense on a streamed call: sent on one. */
const STREAM_FIELDS = ['stream', 'stream_options'];

/** An answer holding every field the response table lists. */
const ANSWER = {
  id: 'chatcmpl-table',
  object: 'chat.completion',
  created: 1_700_000_001,
  model: 'deepseek-chat',
  system_fingerprint: 'fp_table',
  service_tier: 'flex',
  moderation: { flagged: false },
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Hello.',
        refusal: null,
        annotations: [{ type: 'url_citation', url_citation: { url: 'https://example.com', title: 'e' } }],
        audio: { id: 'audio_1', data: 'UklGRg==', expires_at: 1_700_000_999, transcript: 'Hello.' },
        function_call: { name: 'g', arguments: '{}' },
        tool_calls: [{ id: 'call_t', type: 'function', function: { name: 'f', arguments: '{}' } }],
      },
      logprobs: {
        content: [{ token: 'Hello', logprob: -0.01, bytes: [72], top_logprobs: [] }],
        refusal: null,
      },
      finish_reason: 'tool_calls',
    },
    {
      index: 1,
      message: { role: 'assistant', content: null, refusal: 'No.' },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: {
    prompt_tokens: 30,
    completion_tokens: 9,
    total_tokens: 39,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 2, audio_tokens: 0 },
  },
  a_field_from_next_year: { x: 1 },
};

describe('the README fidelity tables, walked against a fake upstream through the openai SDK', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let sdk: OpenAI;
  const requestRows = readmeTable('request');
  const responseRows = readmeTable('response');

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start();
    t.defer(() => upstream.stop());
    const { adminKey } = await t.createProject('fidelity-table');
    await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
    const { key } = await t.createKey(adminKey, 'CLIENT', 'table');
    sdk = new OpenAI({ apiKey: key, baseURL: t.app.url.replace('/graphql', '/v1'), maxRetries: 0 });
  }, 120_000);
  afterAll(() => t.close());
  beforeEach(() => upstream.reset());

  it('lists every field of the SDK request and answer types, and only known statuses', () => {
    const listed = new Set(requestRows.flatMap((r) => r.names));
    expect(sdkFields(CHAT_TYPES, 'ChatCompletionCreateParamsBase').filter((f) => !listed.has(f))).toEqual([]);
    const answered = responseRows.flatMap((r) => r.names).join(' ');
    const missing = [
      ...sdkFields(CHAT_TYPES, 'ChatCompletion').filter((f) => !answered.includes(f)),
      ...sdkFields(CHAT_TYPES, 'ChatCompletionMessage').filter(
        (f) => f !== 'role' && !answered.includes(`.${f}`),
      ),
    ];
    expect(missing).toEqual([]);
    for (const row of requestRows) expect(row.says).toMatch(/^(forwarded|read and forwarded)\b/);
    for (const row of responseRows) expect(row.says).toMatch(/^(passed back|read and passed back|added)\b/);
  });

  it('every request field arrives upstream as the table says', async () => {
    const sent: Json = {};
    for (const { names } of requestRows) {
      for (const name of names) {
        if (STREAM_FIELDS.includes(name)) continue;
        if (!(name in REQUEST_SAMPLES))
          throw new Error(`the README lists "${name}" but this test has no sample for it`);
        const sample = REQUEST_SAMPLES[name];
        if (name === 'any other field') Object.assign(sent, sample);
        else sent[name] = sample;
      }
    }
    upstream.handler = (_call, res) => sendJson(res, 200, ANSWER);
    await sdk.chat.completions.create(sent as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(upstream.calls[0]!.body).toEqual(sent);

    // The streamed fields: the stream is asked for, and its usage always (the client's options kept).
    upstream.handler = (call, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: call.body.model, choices: [{ index: 0, delta: { content: 'x' }, finish_reason: 'stop' }] })}\n\n` +
          `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: call.body.model, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })}\n\n` +
          'data: [DONE]\n\n',
      );
    };
    const stream = await sdk.chat.completions.create({
      ...(sent as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming),
      stream: true,
      stream_options: { include_usage: false, include_obfuscation: false },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(upstream.calls[1]!.body).toEqual({
      ...sent,
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: false },
    });
    // The client did not ask for the usage chunk: it gets none.
    expect(chunks.some((c) => c.usage)).toBe(false);
  });

  it('every answer field comes back as the table says', async () => {
    upstream.handler = (_call, res) => sendJson(res, 200, ANSWER);
    const answer = (await sdk.chat.completions.create({
      model: 'deepseek-chat',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 64,
      n: 2,
    })) as unknown as Json;
    const { tollgate, ...rest } = answer;
    expect(rest).toEqual(ANSWER);
    const added = responseRows.find((r) => r.names.includes('tollgate'))!;
    const promised = [...added.says.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    // price_note and dropped are there when a price needed a note or a hint was not sent; not on this call.
    const always = promised.filter((k) => k !== 'price_note' && k !== 'dropped');
    expect(Object.keys(tollgate as Json).sort()).toEqual(always.sort());
  });
});

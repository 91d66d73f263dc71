import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { ChatCompletionStream } from 'openai/lib/ChatCompletionStream';
import { AnthropicStreamError } from '../../src/modules/anthropic/anthropic.errors';
import { AnthropicToOpenAiStream } from '../../src/modules/anthropic/anthropic-to-openai.stream';
import type { AnthropicEvent } from '../../src/modules/anthropic/anthropic.types';
import { OpenAiToAnthropicStream } from '../../src/modules/anthropic/openai-to-anthropic.stream';
import type { OpenAiChunk, OpenAiDelta, OpenAiFinishReason } from '../../src/shared/openai-wire';
import { TranslationError } from '../../src/modules/anthropic/translation-error';

/** What the SDKs' `fromReadableStream` read: one JSON value per line. */
function jsonLines(items: unknown[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const item of items) controller.enqueue(encoder.encode(`${JSON.stringify(item)}\n`));
      controller.close();
    },
  });
}

const ARGS = '{"city": "Paris", "units": "celsius", "days": [1, 2, 3]}';

/** A real-looking Anthropic stream: text, then a tool call whose JSON is cut mid-token. */
function anthropicEvents(): AnthropicEvent[] {
  return [
    {
      type: 'message_start',
      message: {
        id: 'msg_01',
        type: 'message',
        role: 'assistant',
        content: [],
        model: 'claude-sonnet-4-5',
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: 3,
          cache_creation_input_tokens: 12_304,
          cache_read_input_tokens: 0,
          output_tokens: 1,
        },
      },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    { type: 'ping' },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me ' } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'check.' } },
    { type: 'content_block_stop', index: 0 },
    {
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: 'toolu_1', name: 'weather', input: {} },
    },
    ...[ARGS.slice(0, 7), ARGS.slice(7, 20), ARGS.slice(20, 41), ARGS.slice(41)].map(
      (partial_json): AnthropicEvent => ({
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'input_json_delta', partial_json },
      }),
    ),
    { type: 'content_block_stop', index: 1 },
    {
      type: 'content_block_start',
      index: 2,
      content_block: { type: 'tool_use', id: 'toolu_2', name: 'clock', input: {} },
    },
    { type: 'content_block_stop', index: 2 },
    {
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 550 },
    },
    { type: 'message_stop' },
  ];
}

function chunk(delta: OpenAiDelta, finish: OpenAiFinishReason | null = null): OpenAiChunk {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'deepseek-chat',
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

/** A real-looking OpenAI stream: text, two tool calls with split arguments, then the usage chunk. */
function openAiChunks(): OpenAiChunk[] {
  return [
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Let me ' }),
    chunk({ content: 'check.' }),
    chunk({
      tool_calls: [
        { index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } },
      ],
    }),
    ...[ARGS.slice(0, 9), ARGS.slice(9, 30), ARGS.slice(30)].map((args) =>
      chunk({ tool_calls: [{ index: 0, function: { arguments: args } }] }),
    ),
    chunk({
      tool_calls: [
        { index: 1, id: 'call_2', type: 'function', function: { name: 'clock', arguments: '{}' } },
      ],
    }),
    chunk({}, 'tool_calls'),
    {
      ...chunk({}),
      choices: [],
      usage: {
        prompt_tokens: 10_000,
        completion_tokens: 500,
        total_tokens: 10_500,
        prompt_tokens_details: { cached_tokens: 8_000 },
        completion_tokens_details: { reasoning_tokens: 300 },
      },
    },
  ];
}

describe('Anthropic stream -> OpenAI chunks', () => {
  it('emits tool-call deltas that the openai SDK reassembles into the same arguments JSON', async () => {
    const translator = new AnthropicToOpenAiStream({ created: 1_700_000_000 });
    const chunks = anthropicEvents().flatMap((event) => translator.push(event));

    const final = await ChatCompletionStream.fromReadableStream(jsonLines(chunks)).finalChatCompletion();
    const answer = final.choices[0]?.message;
    expect(answer?.content).toBe('Let me check.');
    expect(
      answer?.tool_calls?.map((c) =>
        c.type === 'function' ? [c.id, c.function.name, c.function.arguments] : [],
      ),
    ).toEqual([
      ['toolu_1', 'weather', ARGS],
      // A call that streamed no JSON still arrives with parsable arguments.
      ['toolu_2', 'clock', '{}'],
    ]);
    expect(
      JSON.parse(answer?.tool_calls?.[0]?.type === 'function' ? answer.tool_calls[0].function.arguments : ''),
    ).toEqual(JSON.parse(ARGS));
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(final.usage).toEqual({
      prompt_tokens: 12_307,
      completion_tokens: 550,
      total_tokens: 12_857,
      prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 12_304 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('numbers tool calls from 0 although Anthropic numbers the text block first', () => {
    const translator = new AnthropicToOpenAiStream();
    const starts = anthropicEvents()
      .flatMap((event) => translator.push(event))
      .flatMap((c) => c.choices.flatMap((choice) => choice.delta.tool_calls ?? []))
      .filter((call) => call.id !== undefined);
    expect(starts).toEqual([
      { index: 0, id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '' } },
      { index: 1, id: 'toolu_2', type: 'function', function: { name: 'clock', arguments: '' } },
    ]);
  });

  it('reports the usage seen so far, so a stream cut after message_start is still metered', () => {
    const translator = new AnthropicToOpenAiStream();
    expect(translator.usage).toBeNull();
    const events = anthropicEvents();
    translator.push(events[0]!);
    expect(translator.usage).toEqual({
      prompt: 12_307,
      cachedPrompt: 0,
      cacheWrite: 12_304,
      completion: 1,
      reasoning: 0,
    });
    events.slice(1).forEach((event) => translator.push(event));
    expect(translator.usage).toEqual({
      prompt: 12_307,
      cachedPrompt: 0,
      cacheWrite: 12_304,
      completion: 550,
      reasoning: 0,
    });
  });

  it('ends with a usage chunk without choices, unless usage was not asked for', () => {
    const withUsage = new AnthropicToOpenAiStream();
    const last = anthropicEvents()
      .flatMap((event) => withUsage.push(event))
      .at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.prompt_tokens).toBe(12_307);

    const without = new AnthropicToOpenAiStream({ includeUsage: false });
    expect(
      anthropicEvents()
        .flatMap((event) => without.push(event))
        .some((c) => c.usage),
    ).toBe(false);
  });

  it('throws an overloaded error event as a retryable upstream failure', () => {
    const translator = new AnthropicToOpenAiStream();
    translator.push(anthropicEvents()[0]!);
    let caught: unknown;
    try {
      translator.push({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AnthropicStreamError);
    expect((caught as AnthropicStreamError).code).toBe('UPSTREAM_UNAVAILABLE');
  });
});

describe('OpenAI chunks -> Anthropic stream', () => {
  it('emits the exact Anthropic event sequence, with usage in message_start and message_delta', () => {
    const translator = new OpenAiToAnthropicStream({
      id: 'msg_tg_1',
      model: 'deepseek-chat',
      inputTokens: 9_000,
    });
    const events = [...openAiChunks().flatMap((c) => translator.push(c)), ...translator.end()];
    expect(
      events.map((e) =>
        e.type === 'content_block_delta'
          ? `${e.type}:${e.index}:${e.delta.type}`
          : 'index' in e
            ? `${e.type}:${e.index}`
            : e.type,
      ),
    ).toEqual([
      'message_start',
      'content_block_start:0',
      'content_block_delta:0:text_delta',
      'content_block_delta:0:text_delta',
      'content_block_stop:0',
      'content_block_start:1',
      'content_block_delta:1:input_json_delta',
      'content_block_delta:1:input_json_delta',
      'content_block_delta:1:input_json_delta',
      'content_block_stop:1',
      'content_block_start:2',
      'content_block_delta:2:input_json_delta',
      'content_block_stop:2',
      'message_delta',
      'message_stop',
    ]);
    const start = events[0];
    expect(start?.type === 'message_start' && start.message.usage).toEqual({
      input_tokens: 9_000,
      output_tokens: 0,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    expect(events.at(-2)).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: {
        input_tokens: 2_000,
        output_tokens: 500,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 8_000,
        output_tokens_details: { thinking_tokens: 300 },
      },
    });
    expect(translator.usage).toEqual({
      prompt: 10_000,
      cachedPrompt: 8_000,
      cacheWrite: 0,
      completion: 500,
      reasoning: 300,
    });
  });

  it('is reassembled by the Anthropic SDK into the same text, tool inputs and usage', async () => {
    const translator = new OpenAiToAnthropicStream();
    const events = [...openAiChunks().flatMap((c) => translator.push(c)), ...translator.end()];
    const final = await MessageStream.fromReadableStream(jsonLines(events)).finalMessage();
    expect(final.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'call_1', name: 'weather', input: JSON.parse(ARGS) },
      { type: 'tool_use', id: 'call_2', name: 'clock', input: {} },
    ]);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({
      input_tokens: 2_000,
      cache_read_input_tokens: 8_000,
      output_tokens: 500,
    });
  });

  it('carries reasoning_content as a thinking block and a refusal as text with a refusal stop', () => {
    const translator = new OpenAiToAnthropicStream();
    const events = [
      ...translator.push(chunk({ role: 'assistant', reasoning_content: 'Hmm.' })),
      ...translator.push(chunk({ refusal: 'I cannot help with that.' }, 'stop')),
      ...translator.end(),
    ];
    expect(
      events
        .filter((e) => e.type === 'content_block_start')
        .map((e) => 'content_block' in e && e.content_block.type),
    ).toEqual(['thinking', 'text']);
    const delta = events.find((e) => e.type === 'message_delta');
    expect(delta?.type === 'message_delta' && delta.delta.stop_reason).toBe('refusal');
  });

  it('still closes with a valid sequence when the upstream sent nothing, and reports no usage', async () => {
    const translator = new OpenAiToAnthropicStream({ id: 'msg_x', model: 'm', inputTokens: 12 });
    const events = translator.end();
    expect(events.map((e) => e.type)).toEqual(['message_start', 'message_delta', 'message_stop']);
    expect(translator.usage).toBeNull();
    expect(translator.end()).toEqual([]);
    const final = await MessageStream.fromReadableStream(jsonLines(events)).finalMessage();
    expect(final.usage.input_tokens).toBe(12);
  });

  it('names a tool call the upstream sent without an id after its own answer, so ids differ across turns', () => {
    const ids = ['chatcmpl-a', 'chatcmpl-b'].map((id) => {
      const translator = new OpenAiToAnthropicStream();
      const events = translator.push({
        ...chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '{}' } }] }),
        id,
      });
      const start = events.find((e) => e.type === 'content_block_start');
      return start?.type === 'content_block_start' && start.content_block.type === 'tool_use'
        ? start.content_block.id
        : null;
    });
    expect(ids).toEqual(['toolu_chatcmpl-a_0', 'toolu_chatcmpl-b_0']);
  });

  it('refuses a tool call resumed after another started, which Anthropic blocks cannot express', () => {
    const translator = new OpenAiToAnthropicStream();
    translator.push(
      chunk({ tool_calls: [{ index: 0, id: 'a', function: { name: 'f', arguments: '{"x":' } }] }),
    );
    translator.push(chunk({ tool_calls: [{ index: 1, id: 'b', function: { name: 'g', arguments: '{}' } }] }));
    expect(() =>
      translator.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] })),
    ).toThrow(TranslationError);
  });

  it('round-trips: Anthropic events -> OpenAI chunks -> Anthropic events rebuild the same message', async () => {
    const toOpenAi = new AnthropicToOpenAiStream();
    const toAnthropic = new OpenAiToAnthropicStream();
    const original = await MessageStream.fromReadableStream(jsonLines(anthropicEvents())).finalMessage();
    const chunks = anthropicEvents().flatMap((event) => toOpenAi.push(event));
    const events = [...chunks.flatMap((c) => toAnthropic.push(c)), ...toAnthropic.end()];
    const rebuilt = await MessageStream.fromReadableStream(jsonLines(events)).finalMessage();
    expect(rebuilt.content).toEqual(original.content);
    expect(rebuilt.stop_reason).toBe(original.stop_reason);
    expect(toAnthropic.usage).toEqual(toOpenAi.usage);
  });
});

import type { AnthropicMessage } from '../../src/modules/anthropic/anthropic.types';
import type { OpenAiCompletion, OpenAiFinishReason } from '../../src/shared/openai-wire';
import { toAnthropicMessage, toOpenAiCompletion } from '../../src/modules/anthropic/response-translate';
import { type TokenUsage } from '../../src/shared/token-usage';
import { usageFromAnthropic } from '../../src/modules/anthropic/anthropic-usage';
import { TranslationError } from '../../src/modules/anthropic/translation-error';
import { costOf, formatUsd, parseUsd } from '../../src/shared/money';

function message(overrides: Partial<AnthropicMessage>): AnthropicMessage {
  return {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    content: [],
    model: 'claude-sonnet-4-5',
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5 },
    ...overrides,
  };
}

function completion(
  overrides: Partial<OpenAiCompletion['choices'][number]['message']>,
  finish: OpenAiFinishReason = 'stop',
): OpenAiCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'deepseek-chat',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, ...overrides },
        finish_reason: finish,
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  };
}

/** Issue 12's formula over the classes: each prompt token charged once, in exactly one class. */
function costUsd(
  usage: TokenUsage,
  prices: { prompt: string; cached: string; write: string; completion: string },
): string {
  const p = (usd: string) => ({ prompt: parseUsd(usd), completion: 0n });
  const plain = usage.prompt - usage.cachedPrompt - usage.cacheWrite;
  return formatUsd(
    costOf(plain, 0, p(prices.prompt)) +
      costOf(usage.cachedPrompt, 0, p(prices.cached)) +
      costOf(usage.cacheWrite, 0, p(prices.write)) +
      costOf(0, usage.completion, { prompt: 0n, completion: parseUsd(prices.completion) }),
  );
}

describe('Anthropic answer -> OpenAI completion', () => {
  it('turns tool_use into tool_calls with JSON-string arguments and joins the text', () => {
    const { completion: out } = toOpenAiCompletion(
      message({
        content: [
          { type: 'text', text: 'Let me ' },
          { type: 'text', text: 'check.' },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris', days: [1, 2] } },
        ],
        stop_reason: 'tool_use',
      }),
      { id: 'chatcmpl-x', created: 1_700_000_000 },
    );
    expect(out).toMatchObject({
      id: 'chatcmpl-x',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-sonnet-4-5',
    });
    expect(out.choices).toEqual([
      {
        index: 0,
        message: {
          role: 'assistant',
          content: 'Let me check.',
          refusal: null,
          tool_calls: [
            {
              id: 'toolu_1',
              type: 'function',
              function: { name: 'weather', arguments: '{"city":"Paris","days":[1,2]}' },
            },
          ],
        },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ]);
  });

  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
    ['pause_turn', 'length'],
    ['model_context_window_exceeded', 'length'],
  ] as const)('maps stop_reason %s to finish_reason %s', (stop, finish) => {
    const { completion: out } = toOpenAiCompletion(
      message({ content: [{ type: 'text', text: 'x' }], stop_reason: stop }),
    );
    expect(out.choices[0]?.finish_reason).toBe(finish);
  });

  it('reports a refusal in refusal, and carries thinking as reasoning_content', () => {
    const { completion: out } = toOpenAiCompletion(
      message({
        content: [
          { type: 'thinking', thinking: 'The user wants...', signature: 'sig' },
          { type: 'redacted_thinking', data: 'opaque' },
        ],
        stop_reason: 'refusal',
        stop_details: { type: 'refusal', category: 'cyber', explanation: 'Declined: malware.' },
      }),
    );
    expect(out.choices[0]?.message).toEqual({
      role: 'assistant',
      content: null,
      refusal: 'Declined: malware.',
      reasoning_content: 'The user wants...',
    });
  });

  it("maps LiteLLM #9812's worked example: cache writes inside prompt_tokens, charged once, exactly $0.054399", () => {
    const { completion: out, usage } = toOpenAiCompletion(
      message({
        content: [{ type: 'text', text: 'ok' }],
        usage: {
          input_tokens: 3,
          cache_creation_input_tokens: 12_304,
          cache_read_input_tokens: 0,
          output_tokens: 550,
        },
      }),
    );
    expect(usage).toEqual({
      prompt: 12_307,
      cachedPrompt: 0,
      cacheWrite: 12_304,
      completion: 550,
      reasoning: 0,
    });
    expect(out.usage).toEqual({
      prompt_tokens: 12_307,
      completion_tokens: 550,
      total_tokens: 12_857,
      prompt_tokens_details: { cached_tokens: 0, cache_write_tokens: 12_304 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(costUsd(usage, { prompt: '3.00', cached: '0.30', write: '3.75', completion: '15.00' })).toBe(
      '0.054399',
    );
  });

  it('counts cache reads into prompt_tokens and cached_tokens, and thinking tokens as reasoning', () => {
    const usage = usageFromAnthropic({
      input_tokens: 50,
      cache_read_input_tokens: 8_000,
      cache_creation_input_tokens: 200,
      output_tokens: 500,
      output_tokens_details: { thinking_tokens: 300 },
    });
    expect(usage).toEqual({
      prompt: 8_250,
      cachedPrompt: 8_000,
      cacheWrite: 200,
      completion: 500,
      reasoning: 300,
    });
  });

  it('refuses to translate a server-tool block rather than drop it, naming it as the upstream fault', () => {
    const odd = message({
      content: [{ type: 'web_search_tool_result' } as unknown as AnthropicMessage['content'][number]],
    });
    expect(() => toOpenAiCompletion(odd)).toThrow(TranslationError);
    try {
      toOpenAiCompletion(odd);
    } catch (error) {
      expect((error as TranslationError).code).toBe('UPSTREAM_ERROR');
    }
  });
});

describe('OpenAI completion -> Anthropic answer', () => {
  it('turns tool_calls into tool_use blocks with parsed input, and the finish reason into a stop reason', () => {
    const { message: out } = toAnthropicMessage(
      completion(
        {
          content: 'Checking.',
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          ],
        },
        'tool_calls',
      ),
    );
    expect(out).toEqual({
      id: 'chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'deepseek-chat',
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 10,
        output_tokens: 5,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
  });

  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['content_filter', 'refusal'],
  ] as const)('maps finish_reason %s to stop_reason %s', (finish, stop) => {
    const { message: out } = toAnthropicMessage(completion({ content: 'x' }, finish));
    expect(out.stop_reason).toBe(stop);
  });

  it('takes cached and cache-write tokens out of input_tokens, and keeps reasoning inside output', () => {
    const answer = completion({ content: 'x', reasoning_content: 'because' });
    answer.usage = {
      prompt_tokens: 10_000,
      completion_tokens: 500,
      total_tokens: 10_500,
      prompt_tokens_details: { cached_tokens: 8_000 },
      completion_tokens_details: { reasoning_tokens: 300 },
    };
    const { message: out, usage } = toAnthropicMessage(answer);
    expect(out.usage).toEqual({
      input_tokens: 2_000,
      cache_read_input_tokens: 8_000,
      cache_creation_input_tokens: 0,
      output_tokens: 500,
      output_tokens_details: { thinking_tokens: 300 },
    });
    expect(out.content[0]).toEqual({ type: 'thinking', thinking: 'because', signature: '' });
    // Issue 12's worked example, through this direction's usage.
    expect(costUsd(usage, { prompt: '2.00', cached: '0.50', write: '2.00', completion: '8.00' })).toBe(
      '0.012',
    );
  });

  it('refuses an answer with several choices or unparsable tool arguments as the upstream fault', () => {
    const two = completion({ content: 'a' });
    two.choices.push({ ...two.choices[0]!, index: 1 });
    const bad = completion({
      tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"a":' } }],
    });
    for (const [answer, field] of [
      [two, 'choices'],
      [bad, 'choices[0].message.tool_calls[0].function.arguments'],
    ] as const) {
      let caught: unknown;
      try {
        toAnthropicMessage(answer);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(TranslationError);
      expect((caught as TranslationError).field).toBe(field);
      expect((caught as TranslationError).code).toBe('UPSTREAM_ERROR');
    }
  });

  it('round-trips an Anthropic answer through OpenAI unchanged', () => {
    const original = message({
      content: [
        { type: 'text', text: 'Checking.' },
        { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      usage: {
        input_tokens: 3,
        cache_creation_input_tokens: 12_304,
        cache_read_input_tokens: 40,
        output_tokens: 550,
      },
    });
    const { completion: openAi } = toOpenAiCompletion(original);
    expect(toAnthropicMessage(openAi).message).toEqual(original);
  });
});

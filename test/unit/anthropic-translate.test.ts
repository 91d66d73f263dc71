import { toOpenAiRequest } from '../../src/modules/anthropic/anthropic-to-openai';
import { toAnthropicRequest } from '../../src/modules/anthropic/openai-to-anthropic';
import { TranslationError } from '../../src/modules/anthropic/translation-error';

const OPTIONS = { model: 'claude-sonnet-4-5', defaultMaxTokens: 4096 };
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';
const PDF = 'JVBERi0xLjQKJcfsj6IKMSAwIG9iago=';
const LOOKUP_SCHEMA = { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] };

/** The TranslationError a call throws, so a test can assert on the field it names. */
function refusal(call: () => unknown): TranslationError {
  try {
    call();
  } catch (error) {
    if (error instanceof TranslationError) return error;
    throw error;
  }
  throw new Error('expected a TranslationError, got none');
}

describe('OpenAI request -> Anthropic request', () => {
  it('maps messages, tools, tool choice, stop, limits and user onto their Anthropic fields', () => {
    const request = toAnthropicRequest(
      {
        model: 'anything-the-client-said',
        messages: [
          { role: 'system', content: 'Be terse.' },
          { role: 'developer', content: [{ type: 'text', text: 'Use tools.' }] },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in these?' },
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
              { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'auto' } },
              {
                type: 'file',
                file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'spec.pdf' },
              },
            ],
          },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } },
              { id: 'call_2', type: 'function', function: { name: 'lookup', arguments: '{"q":"dog"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: 'a cat' },
          { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: 'a dog' }] },
          { role: 'user', content: 'Thanks. Summarise.' },
        ],
        tools: [
          {
            type: 'function',
            function: { name: 'lookup', description: 'Look up', parameters: LOOKUP_SCHEMA },
          },
        ],
        tool_choice: 'required',
        parallel_tool_calls: false,
        stop: 'END',
        max_completion_tokens: 300,
        temperature: 0.2,
        top_p: 0.9,
        user: 'user-42',
        stream: true,
        stream_options: { include_usage: true },
      },
      OPTIONS,
    );

    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 300,
      system: [
        { type: 'text', text: 'Be terse.' },
        { type: 'text', text: 'Use tools.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: PDF },
              title: 'spec.pdf',
            },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 'call_1', name: 'lookup', input: { q: 'cat' } },
            { type: 'tool_use', id: 'call_2', name: 'lookup', input: { q: 'dog' } },
          ],
        },
        {
          // Both tool results and the next user text share one user turn, results first.
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: 'a cat' },
            { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'a dog' }] },
            { type: 'text', text: 'Thanks. Summarise.' },
          ],
        },
      ],
      stop_sequences: ['END'],
      temperature: 0.2,
      top_p: 0.9,
      tools: [{ name: 'lookup', description: 'Look up', input_schema: LOOKUP_SCHEMA }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      metadata: { user_id: 'user-42' },
      stream: true,
    });
  });

  it('sets max_tokens to the default when the client sent no limit, since Anthropic requires one', () => {
    const request = toAnthropicRequest({ messages: [{ role: 'user', content: 'hi' }] }, OPTIONS);
    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(
      toAnthropicRequest({ messages: [{ role: 'user', content: 'hi' }], max_tokens: 12 }, OPTIONS).max_tokens,
    ).toBe(12);
  });

  it('maps each tool_choice form, and parallel_tool_calls false onto it', () => {
    const base = {
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'f' } }],
    };
    const choice = (extra: object) => toAnthropicRequest({ ...base, ...extra }, OPTIONS).tool_choice;
    expect(choice({ tool_choice: 'auto' })).toEqual({ type: 'auto' });
    expect(choice({ tool_choice: 'none' })).toEqual({ type: 'none' });
    expect(choice({ tool_choice: 'required' })).toEqual({ type: 'any' });
    expect(choice({ tool_choice: { type: 'function', function: { name: 'f' } } })).toEqual({
      type: 'tool',
      name: 'f',
    });
    expect(choice({ parallel_tool_calls: false })).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(choice({ parallel_tool_calls: true })).toBeUndefined();
    // A tool with no parameters still gets the empty object schema Anthropic requires.
    expect(toAnthropicRequest(base, OPTIONS).tools).toEqual([
      { name: 'f', input_schema: { type: 'object', properties: {} } },
    ]);
  });

  it('maps json_schema to structured outputs and reasoning_effort to effort', () => {
    const request = toAnthropicRequest(
      {
        messages: [{ role: 'user', content: 'hi' }],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'answer', schema: LOOKUP_SCHEMA, strict: true },
        },
        reasoning_effort: 'high',
        service_tier: 'default',
      },
      OPTIONS,
    );
    expect(request.output_config).toEqual({
      effort: 'high',
      format: { type: 'json_schema', schema: LOOKUP_SCHEMA },
    });
    expect(request.service_tier).toBe('standard_only');
  });

  it('turns an explicit cache breakpoint into cache_control, and keeps one cached system text as a block', () => {
    const request = toAnthropicRequest(
      {
        messages: [
          {
            role: 'system',
            content: [{ type: 'text', text: 'Long rules', prompt_cache_breakpoint: { mode: 'explicit' } }],
          },
          { role: 'user', content: 'hi' },
        ],
      },
      OPTIONS,
    );
    expect(request.system).toEqual([
      { type: 'text', text: 'Long rules', cache_control: { type: 'ephemeral' } },
    ]);
  });

  it('accepts the values that ask for what Anthropic does anyway, and nulls as absent', () => {
    const request = toAnthropicRequest(
      {
        messages: [{ role: 'user', content: 'hi', name: null }],
        n: 1,
        presence_penalty: 0,
        frequency_penalty: 0,
        logprobs: false,
        store: false,
        logit_bias: {},
        modalities: ['text'],
        parallel_tool_calls: true,
        response_format: { type: 'text' },
        seed: null,
        stream_options: { include_usage: true },
      },
      OPTIONS,
    );
    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'hi' }],
    });
  });

  it('drops cost hints only after reporting each one', () => {
    const dropped: string[] = [];
    toAnthropicRequest(
      {
        messages: [
          {
            role: 'user',
            content: [{ type: 'image_url', image_url: { url: 'https://x.test/a.png', detail: 'high' } }],
          },
        ],
        prompt_cache_key: 'tenant-1',
        prompt_cache_retention: '24h',
      },
      { ...OPTIONS, onDroppedHint: (field) => dropped.push(field) },
    );
    expect(dropped).toEqual([
      'prompt_cache_key',
      'prompt_cache_retention',
      'messages[0].content[0].image_url.detail',
    ]);
  });

  const user = [{ role: 'user', content: 'hi' }];
  it.each([
    ['n', { n: 2 }],
    ['logprobs', { logprobs: true }],
    ['top_logprobs', { top_logprobs: 3 }],
    ['logit_bias', { logit_bias: { '50256': -100 } }],
    ['presence_penalty', { presence_penalty: 0.5 }],
    ['frequency_penalty', { frequency_penalty: 0.5 }],
    ['seed', { seed: 7 }],
    ['modalities', { modalities: ['text', 'audio'] }],
    ['audio', { audio: { voice: 'alloy', format: 'mp3' } }],
    ['prediction', { prediction: { type: 'content', content: 'x' } }],
    ['functions', { functions: [{ name: 'f' }] }],
    ['function_call', { function_call: 'auto' }],
    ['metadata', { metadata: { team: 'a' } }],
    ['store', { store: true }],
    ['web_search_options', { web_search_options: {} }],
    ['verbosity', { verbosity: 'low' }],
    ['a_field_from_next_year', { a_field_from_next_year: 1 }],
    ['constructor', JSON.parse('{"constructor": 1}') as object],
    ['temperature', { temperature: 1.5 }],
    ['reasoning_effort', { reasoning_effort: 'minimal' }],
    ['service_tier', { service_tier: 'flex' }],
    ['response_format', { response_format: { type: 'json_object' } }],
    [
      'response_format.json_schema.description',
      { response_format: { type: 'json_schema', json_schema: { name: 'a', description: 'b', schema: {} } } },
    ],
    [
      'tool_choice',
      {
        tools: [{ type: 'function', function: { name: 'f' } }],
        tool_choice: { type: 'allowed_tools', allowed_tools: {} },
      },
    ],
    ['tools[0].type', { tools: [{ type: 'custom', custom: { name: 'grammar' } }] }],
    ['max_tokens', { max_tokens: 10, max_completion_tokens: 20 }],
  ])('refuses %s, naming it, rather than dropping it', (field, extra) => {
    const error = refusal(() => toAnthropicRequest({ messages: user, ...extra }, OPTIONS));
    expect(error.field).toBe(field);
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.message).toContain(field);
  });

  it.each([
    ['messages[0].name', [{ role: 'user', content: 'hi', name: 'alice' }]],
    [
      'messages[0].content[0]',
      [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'x', format: 'wav' } }] }],
    ],
    [
      'messages[0].content[0].file.file_id',
      [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }],
    ],
    [
      'messages[0].content[0].image_url.url',
      [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/bmp;base64,AAAA' } }] }],
    ],
    ['messages[0].role', [{ role: 'function', name: 'f', content: 'x' }]],
    [
      'messages[1].tool_calls[0].function.arguments',
      [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '{"q":' } }],
        },
      ],
    ],
    ['messages[0].audio', [{ role: 'assistant', content: null, audio: { id: 'a1' } }]],
    ['messages[0].refusal', [{ role: 'assistant', content: null, refusal: 42 }]],
  ])('refuses a message part Anthropic cannot hold, naming %s', (field, messages) => {
    expect(refusal(() => toAnthropicRequest({ messages }, OPTIONS)).field).toBe(field);
  });

  it('keeps an assistant refusal in the history as text', () => {
    const request = toAnthropicRequest(
      {
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: null, refusal: 'I cannot help.' },
        ],
      },
      OPTIONS,
    );
    expect(request.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'I cannot help.' }],
    });
  });
});

describe('Anthropic request -> OpenAI request', () => {
  it('maps system, blocks, tool use and results, tools and parameters onto their OpenAI fields', () => {
    const dropped: string[] = [];
    const request = toOpenAiRequest(
      {
        model: 'claude-sonnet-4-5',
        max_tokens: 1024,
        system: [{ type: 'text', text: 'Be terse.', cache_control: { type: 'ephemeral' } }],
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Look at this' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
              { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
              {
                type: 'document',
                source: { type: 'base64', media_type: 'application/pdf', data: PDF },
                title: 'spec.pdf',
              },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'hmm', signature: 'sig' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'cat' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: 'not found', is_error: true },
              { type: 'text', text: 'Try again' },
            ],
          },
        ],
        tools: [
          {
            name: 'lookup',
            description: 'Look up',
            input_schema: LOOKUP_SCHEMA,
            cache_control: { type: 'ephemeral' },
          },
        ],
        tool_choice: { type: 'tool', name: 'lookup', disable_parallel_tool_use: true },
        stop_sequences: ['END', 'STOP'],
        temperature: 0.3,
        top_p: 0.8,
        metadata: { user_id: 'user-42' },
        stream: true,
        thinking: { type: 'disabled' },
      },
      { onDroppedHint: (field) => dropped.push(field) },
    );

    expect(request).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 1024,
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Be terse.' }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look at this' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            { type: 'file', file: { file_data: `data:application/pdf;base64,${PDF}`, filename: 'spec.pdf' } },
          ],
        },
        {
          role: 'assistant',
          content: 'Checking.',
          tool_calls: [
            { id: 'toolu_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'Error: not found' },
        { role: 'user', content: [{ type: 'text', text: 'Try again' }] },
      ],
      stop: ['END', 'STOP'],
      temperature: 0.3,
      top_p: 0.8,
      tools: [
        { type: 'function', function: { name: 'lookup', description: 'Look up', parameters: LOOKUP_SCHEMA } },
      ],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
      parallel_tool_calls: false,
      user: 'user-42',
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(dropped).toEqual(['system[0].cache_control', 'messages[1].content[0]', 'tools[0].cache_control']);
  });

  it('maps structured outputs, effort and service tier', () => {
    const request = toOpenAiRequest({
      model: 'm',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
      output_config: { effort: 'low', format: { type: 'json_schema', schema: LOOKUP_SCHEMA } },
      service_tier: 'standard_only',
    });
    expect(request.reasoning_effort).toBe('low');
    expect(request.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'response', schema: LOOKUP_SCHEMA, strict: true },
    });
    expect(request.service_tier).toBe('default');
  });

  const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
  it.each([
    ['top_k', { top_k: 5 }],
    ['thinking', { thinking: { type: 'enabled', budget_tokens: 2048 } }],
    ['mcp_servers', { mcp_servers: [] }],
    ['container', { container: 'c1' }],
    ['inference_geo', { inference_geo: 'eu' }],
    ['a_field_from_next_year', { a_field_from_next_year: true }],
    ['metadata.tenant', { metadata: { user_id: 'u', tenant: 't' } }],
    ['tools[0].type', { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }],
    ['tools[0].input_examples', { tools: [{ name: 'f', input_schema: {}, input_examples: [{}] }] }],
    [
      'messages[0].content[0].source.type',
      { messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'file', file_id: 'f1' } }] }] },
    ],
    [
      'messages[0].content[0].citations',
      {
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'x', citations: [{ type: 'char_location' }] }] },
        ],
      },
    ],
    [
      'messages[0].content[0].content[0].type',
      {
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                tool_use_id: 't',
                content: [{ type: 'image', source: { type: 'url', url: 'https://x.test/a.png' } }],
              },
            ],
          },
        ],
      },
    ],
    [
      'messages[0].content[0].type',
      {
        messages: [
          { role: 'user', content: [{ type: 'search_result', source: 's', title: 't', content: [] }] },
        ],
      },
    ],
  ])('refuses %s, naming it', (field, extra) => {
    const error = refusal(() => toOpenAiRequest({ ...base, ...extra }));
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
  });

  it('requires max_tokens, as Anthropic does', () => {
    expect(refusal(() => toOpenAiRequest({ model: 'm', messages: [] })).field).toBe('max_tokens');
  });
});

describe('round trips', () => {
  it('OpenAI -> Anthropic -> OpenAI gives back the same body', () => {
    const body = {
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'system', content: 'Be terse.' },
        { role: 'user', content: 'Where is the cat?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{"q":"cat"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'on the mat' },
      ],
      tools: [
        { type: 'function', function: { name: 'lookup', description: 'Look up', parameters: LOOKUP_SCHEMA } },
      ],
      tool_choice: 'required',
      parallel_tool_calls: false,
      stop: ['END'],
      max_tokens: 100,
      temperature: 0.5,
      top_p: 0.9,
      user: 'user-42',
      reasoning_effort: 'medium',
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'response', schema: LOOKUP_SCHEMA, strict: true },
      },
      stream: true,
      stream_options: { include_usage: true },
    };
    expect(toOpenAiRequest(toAnthropicRequest(body, { ...OPTIONS, model: body.model }))).toEqual(body);
  });

  it('Anthropic -> OpenAI -> Anthropic gives back the same body', () => {
    const body = {
      model: 'claude-sonnet-4-5',
      max_tokens: 512,
      system: 'Be terse.',
      messages: [
        { role: 'user', content: 'Where is the cat?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Let me look.' },
            { type: 'tool_use', id: 'toolu_1', name: 'lookup', input: { q: 'cat' } },
          ],
        },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'on the mat' }] },
      ],
      tools: [{ name: 'lookup', description: 'Look up', input_schema: LOOKUP_SCHEMA, strict: true }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      stop_sequences: ['END'],
      temperature: 0.5,
      top_p: 0.9,
      metadata: { user_id: 'user-42' },
      output_config: { effort: 'high', format: { type: 'json_schema', schema: LOOKUP_SCHEMA } },
      service_tier: 'standard_only',
      stream: true,
    };
    const back = toAnthropicRequest(toOpenAiRequest(body), { model: body.model, defaultMaxTokens: 1 });
    expect(back).toEqual(body);
  });
});

import { crc32, deflateSync } from 'node:zlib';
import { countTokens } from 'gpt-tokenizer';
import { estimatePromptTokens } from '../../src/shared/prompt-estimate';
import type { OpenAiChatRequestLike } from '../../src/shared/prompt-estimate';
import { dataUrlBytes, readImageSize } from '../../src/shared/image-size';

// ------------------------------------------------------------------ images built in the test

/** A complete PNG (1-bit greyscale, all black): signature, IHDR, zlib IDAT, IEND, with real CRCs. */
function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 1; // bit depth; colour type 0 (greyscale), deflate, filter 0, no interlace
  const row = Buffer.alloc(1 + Math.ceil(width / 8)); // filter byte + packed pixels
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', pixels),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A valid GIF89a: a width x height logical screen holding one 1x1 frame (the classic 1-pixel LZW stream). */
function gif(width: number, height: number): Buffer {
  const screen = Buffer.alloc(4);
  screen.writeUInt16LE(width, 0);
  screen.writeUInt16LE(height, 2);
  return Buffer.concat([
    Buffer.from('GIF89a', 'latin1'),
    screen,
    Buffer.from([0x80, 0x00, 0x00]), // global colour table of 2 entries, background 0, square pixels
    Buffer.from([0xff, 0xff, 0xff, 0x00, 0x00, 0x00]),
    Buffer.from([0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0]), // image descriptor: at 0,0, 1x1, no local table
    Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00]), // LZW minimum code size 2, one sub-block, terminator
    Buffer.from([0x3b]),
  ]);
}

const segment = (marker: number, body: Buffer): Buffer => {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([head, body]);
};

/**
 * A JPEG's header, built by hand: SOI, APP0 (JFIF), an APP1 whose payload is full of 0xff bytes
 * (must be skipped by length), a DQT, a DHT (0xc4: in the SOF range but not a frame), fill bytes,
 * then the frame header (SOF0 baseline, or SOF2 progressive) and the start of scan.
 */
function jpeg(width: number, height: number, frameMarker = 0xc0): Buffer {
  const frame = Buffer.from([8, 0, 0, 0, 0, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
  frame.writeUInt16BE(height, 1);
  frame.writeUInt16BE(width, 3);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, Buffer.from('JFIF\0\x01\x01\0\0\x01\0\x01\0\0', 'latin1')),
    segment(0xe1, Buffer.alloc(300, 0xff)),
    segment(0xdb, Buffer.alloc(65, 1)),
    segment(0xc4, Buffer.alloc(30, 2)),
    Buffer.from([0xff, 0xff]), // fill bytes before the next marker
    segment(frameMarker, frame),
    segment(0xda, Buffer.from([1, 1, 0, 0, 0x3f, 0])),
    Buffer.from([0x00, 0xff, 0xd9]),
  ]);
}

function riff(chunk: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(20);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(12 + payload.length, 4);
  head.write('WEBP', 8, 'latin1');
  head.write(chunk, 12, 'latin1');
  head.writeUInt32LE(payload.length, 16);
  return Buffer.concat([head, payload]);
}

/** WebP lossless (VP8L): 0x2f, then width-1 and height-1 in 14 bits each, alpha bit, version 0. */
function webpLossless(width: number, height: number): Buffer {
  const bits = Buffer.alloc(4);
  bits.writeUInt32LE(((width - 1) | ((height - 1) << 14)) >>> 0);
  return riff('VP8L', Buffer.concat([Buffer.from([0x2f]), bits, Buffer.alloc(8)]));
}

/** WebP lossy (VP8): a key-frame tag, the start code 9d 01 2a, then width and height (14 bits, 2-bit scale on top). */
function webpLossy(width: number, height: number): Buffer {
  const frame = Buffer.from([0x50, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0]);
  frame.writeUInt16LE(width | (1 << 14), 6); // a scale hint in the top bits that must be masked off
  frame.writeUInt16LE(height, 8);
  return riff('VP8 ', Buffer.concat([frame, Buffer.alloc(8)]));
}

/** WebP extended (VP8X): flags, 3 reserved bytes, canvas width-1 and height-1 as 24-bit little-endian. */
function webpExtended(width: number, height: number): Buffer {
  const body = Buffer.alloc(10);
  body[0] = 0x10; // alpha flag
  body.writeUIntLE(width - 1, 4, 3);
  body.writeUIntLE(height - 1, 7, 3);
  return riff('VP8X', body);
}

const dataUrl = (type: string, bytes: Buffer): string => `data:${type};base64,${bytes.toString('base64')}`;

describe('readImageSize reads real headers of every format OpenAI accepts', () => {
  it.each([
    ['png', png(3, 2), 3, 2],
    ['png', png(2048, 4096), 2048, 4096],
    ['gif', gif(1, 1), 1, 1],
    ['gif', gif(1800, 2400), 1800, 2400],
    ['jpeg', jpeg(1024, 1024), 1024, 1024],
    ['jpeg', jpeg(4032, 3024, 0xc2), 4032, 3024],
    ['webp', webpLossless(512, 300), 512, 300],
    ['webp', webpLossless(16384, 16384), 16384, 16384],
    ['webp', webpLossy(1920, 1080), 1920, 1080],
    ['webp', webpExtended(6000, 4000), 6000, 4000],
  ] as const)('%s %ix%i', (format, bytes, width, height) => {
    expect(readImageSize(bytes)).toEqual({ format, width, height });
  });

  it('answers nothing for bytes that are no image, truncated, or sized zero', () => {
    expect(readImageSize(Buffer.alloc(0))).toBeUndefined();
    expect(readImageSize(Buffer.from('hello, this is not an image at all'))).toBeUndefined();
    expect(readImageSize(png(64, 64).subarray(0, 20))).toBeUndefined();
    expect(readImageSize(jpeg(64, 64).subarray(0, 400))).toBeUndefined(); // cut before the frame header
    expect(readImageSize(gif(0, 10))).toBeUndefined();
    const lostSync = jpeg(64, 64);
    lostSync[2] = 0x00; // the first marker after SOI is gone
    expect(readImageSize(lostSync)).toBeUndefined();
  });

  it('decodes base64 data URLs only', () => {
    expect(
      dataUrlBytes(dataUrl('image/png', png(1, 1)))
        ?.subarray(1, 4)
        .toString('latin1'),
    ).toBe('PNG');
    expect(dataUrlBytes('https://example.com/cat.png')).toBeUndefined();
    expect(dataUrlBytes('data:image/svg+xml,<svg/>')).toBeUndefined(); // not base64
    expect(dataUrlBytes('data:image/png;base64')).toBeUndefined(); // no payload separator
  });
});

// ------------------------------------------------------------------ the estimate

const text = (s: string): number => countTokens(s);

/** The cookbook's count for plain string messages: 3 per message, role, content, 1 + name, 3 to prime the reply. */
function cookbookCount(messages: { role: string; content: string; name?: string }[]): number {
  return (
    3 + messages.reduce((n, m) => n + 3 + text(m.role) + text(m.content) + (m.name ? 1 + text(m.name) : 0), 0)
  );
}

const image = (url: string, detail?: string): OpenAiChatRequestLike => ({
  messages: [
    { role: 'user', content: [{ type: 'image_url', image_url: detail ? { url, detail } : { url } }] },
  ],
});

const imageTokens = (model: string, url: string, detail?: string): number =>
  estimatePromptTokens(image(url, detail), { model }).parts.images;

const REMOTE = 'https://example.com/photo.jpg';

// OpenAI cookbook, "How to count tokens with tiktoken", section 7: the API counted 101 prompt
// tokens on gpt-4o and gpt-4o-mini for these two messages and this one tool.
const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_current_weather',
    description: 'Get the current weather in a given location',
    parameters: {
      type: 'object',
      properties: {
        location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
        unit: {
          type: 'string',
          description: 'The unit of temperature to return',
          enum: ['celsius', 'fahrenheit'],
        },
      },
      required: ['location'],
    },
  },
};
const WEATHER_MESSAGES = [
  { role: 'system', content: 'You are a helpful assistant that can answer to questions about the weather.' },
  { role: 'user', content: "What's the weather like in San Francisco?" },
];

describe('estimatePromptTokens: text', () => {
  it('counts plain text exactly as the cookbook, whose example the API counted at 124 on gpt-4o', () => {
    // Section 6 of the same notebook (example_messages): 124 by the function and by the API.
    const messages = [
      {
        role: 'system',
        content:
          'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.',
      },
      { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
      {
        role: 'system',
        name: 'example_assistant',
        content: 'Things working well together will increase revenue.',
      },
      {
        role: 'system',
        name: 'example_user',
        content:
          "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
      },
      {
        role: 'system',
        name: 'example_assistant',
        content: "Let's talk later when we're less busy about how to do better.",
      },
      {
        role: 'user',
        content: "This late pivot means we don't have time to boil the ocean for the client deliverable.",
      },
    ];
    const estimate = estimatePromptTokens({ model: 'gpt-4o', messages });
    expect(estimate.tokens).toBe(124);
    expect(estimate.parts).toEqual({
      text: 124,
      tools: 0,
      toolCalls: 0,
      responseFormat: 0,
      images: 0,
      audio: 0,
      files: 0,
    });
    expect(estimate.unbounded).toEqual([]);
  });

  it('counts text parts like the same text in a string, plus one token per part boundary', () => {
    const parts = estimatePromptTokens({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Describe ' },
            { type: 'text', text: 'this picture.' },
          ],
        },
      ],
    });
    expect(parts.parts.text).toBe(3 + 3 + text('user') + text('Describe ') + text('this picture.') + 1);
  });

  it('counts text that looks like special tokens as text, instead of throwing', () => {
    const estimate = estimatePromptTokens({
      messages: [{ role: 'user', content: 'end here <|endoftext|><|im_start|>' }],
    });
    expect(estimate.tokens).toBeGreaterThan(cookbookCount([{ role: 'user', content: 'end here' }]));
  });
});

describe('estimatePromptTokens: tools and schemas', () => {
  it("lands on or just above the API's 101 tokens for the cookbook's tool example (gpt-4o)", () => {
    const estimate = estimatePromptTokens({
      model: 'gpt-4o',
      messages: WEATHER_MESSAGES,
      tools: [WEATHER_TOOL],
    });
    expect(estimate.parts.text).toBe(cookbookCount(WEATHER_MESSAGES)); // 33
    // 101 minus 33 of text: the tool costs 68 on the API. We skip a 4-token discount measured only
    // on older models and add 1 for the system message's padding: at most 5 over.
    expect(estimate.tokens).toBeGreaterThanOrEqual(101);
    expect(estimate.tokens).toBeLessThanOrEqual(106);
  });

  it('counts the deprecated functions field like tools', () => {
    const viaTools = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [WEATHER_TOOL] });
    const viaFunctions = estimatePromptTokens({
      messages: WEATHER_MESSAGES,
      functions: [WEATHER_TOOL.function],
    });
    expect(viaFunctions.tokens).toBe(viaTools.tokens);
  });

  it("adds for each further tool at least the cookbook's cost of one function (68 less its one-off 12 on gpt-4o)", () => {
    const many = Array.from({ length: 20 }, (_, i) => ({
      ...WEATHER_TOOL,
      function: { ...WEATHER_TOOL.function, name: `get_current_weather_${i}` },
    }));
    const one = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [WEATHER_TOOL] }).parts.tools;
    const twenty = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: many }).parts.tools;
    // The cookbook's num_tokens_for_tools charges gpt-4o 68 for this tool: func_init 7 + properties
    // + func_end 12, the last once per request. Each further copy costs at least the other 56.
    expect(twenty - one).toBeGreaterThanOrEqual(19 * (68 - 12));
  });

  it('counts what the TypeScript rendering leaves out (nested descriptions, anyOf, $defs, formats) as JSON', () => {
    const longNote =
      'Use the ISO 8601 format with a time zone offset, never a local time, and never a date alone. '.repeat(
        5,
      );
    const bare = {
      type: 'function',
      function: {
        name: 'book',
        parameters: {
          type: 'object',
          properties: { slot: { type: 'object', properties: { start: { type: 'string' } } } },
        },
      },
    };
    const rich = {
      type: 'function',
      function: {
        name: 'book',
        strict: true,
        parameters: {
          type: 'object',
          additionalProperties: false,
          $defs: { zone: { type: 'string', description: longNote } },
          properties: {
            slot: {
              type: 'object',
              properties: { start: { type: 'string', format: 'date-time', description: longNote } },
            },
            room: { anyOf: [{ type: 'string', description: longNote }, { type: 'null' }] },
          },
        },
      },
    };
    const withBare = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [bare] }).parts.tools;
    const withRich = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [rich] }).parts.tools;
    expect(withRich - withBare).toBeGreaterThanOrEqual(3 * text(longNote));
  });

  it('prices the tool choice as openai-chat-tokens measured: none +1, a named function its name + 4', () => {
    const base = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [WEATHER_TOOL] }).tokens;
    const choose = (tool_choice: unknown): number =>
      estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [WEATHER_TOOL], tool_choice }).tokens - base;
    expect(choose('auto')).toBe(0);
    expect(choose('none')).toBe(1);
    expect(choose({ type: 'function', function: { name: 'get_current_weather' } })).toBe(
      text('get_current_weather') + 4,
    );
    expect(choose('required')).toBe(4);
  });

  it('counts a json_schema response format at least at its schema JSON, and JSON mode above zero', () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string' }, confidence: { type: 'number', minimum: 0, maximum: 1 } },
      required: ['answer', 'confidence'],
      additionalProperties: false,
    };
    const format = (response_format: unknown): number =>
      estimatePromptTokens({ messages: WEATHER_MESSAGES, response_format }).parts.responseFormat;
    expect(
      format({ type: 'json_schema', json_schema: { name: 'answer', strict: true, schema } }),
    ).toBeGreaterThanOrEqual(text(JSON.stringify(schema)) + text('answer'));
    expect(format({ type: 'json_object' })).toBeGreaterThan(0);
    expect(format({ type: 'text' })).toBe(0);
  });
});

describe('estimatePromptTokens: tool calls in the history', () => {
  const args = JSON.stringify({
    location: 'San Francisco, CA',
    unit: 'celsius',
    days: [1, 2, 3, 4, 5, 6, 7],
  });
  const output = JSON.stringify({
    forecast: Array.from({ length: 7 }, (_, d) => ({ day: d, high: 20 + d, low: 10 + d })),
  });
  const turn = (resultId: string): OpenAiChatRequestLike => ({
    messages: [
      ...WEATHER_MESSAGES,
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_Ab12Cd34',
            type: 'function',
            function: { name: 'get_current_weather', arguments: args },
          },
        ],
      },
      { role: 'tool', tool_call_id: resultId, content: output },
    ],
    tools: [WEATHER_TOOL],
  });

  it('counts the call (name, arguments, id, framing) and the result (content, framing)', () => {
    const estimate = estimatePromptTokens(turn('call_Ab12Cd34'));
    expect(estimate.parts.toolCalls).toBeGreaterThanOrEqual(
      text(args) + text('get_current_weather') + text(output) + 2 * 3,
    );
    const before = estimatePromptTokens({ messages: WEATHER_MESSAGES, tools: [WEATHER_TOOL] });
    expect(estimate.tokens - before.tokens).toBe(estimate.parts.toolCalls + 3 + text('assistant'));
  });

  it("counts a result with its function's name, which OpenAI renders instead of the id", () => {
    const known = estimatePromptTokens(turn('call_Ab12Cd34')).parts.toolCalls;
    const orphan = estimatePromptTokens(turn('call_Zz99Yy88')).parts.toolCalls;
    expect(known - orphan).toBe(
      text('functions.get_current_weather') + text('call_Ab12Cd34') - text('call_Zz99Yy88'),
    );
  });

  it('counts a legacy function_call like a tool call', () => {
    const legacy = estimatePromptTokens({
      messages: [
        { role: 'assistant', content: null, function_call: { name: 'get_current_weather', arguments: args } },
      ],
    });
    expect(legacy.parts.toolCalls).toBeGreaterThanOrEqual(text(args) + text('get_current_weather'));
  });
});

describe('estimatePromptTokens: images', () => {
  // OpenAI's images-vision guide, "Calculating costs": the tile rule's worked examples.
  it.each([
    ['1024x1024 high', png(1024, 1024), 'high', 765],
    ['2048x4096 high', png(2048, 4096), 'high', 1105],
    ['2048x4096 auto, counted as high', png(2048, 4096), 'auto', 1105],
    ['2048x4096 with no detail (auto)', png(2048, 4096), undefined, 1105],
    ['4096x8192 low', png(4096, 8192), 'low', 85],
    ['512x512 high: one tile', png(512, 512), 'high', 85 + 170],
    ['513x513 high: four tiles', png(513, 513), 'high', 85 + 4 * 170],
    ['1920x1080 JPEG high: 1365x768 -> 3x2 tiles', jpeg(1920, 1080), 'high', 85 + 6 * 170],
    ['4000x1000 GIF high: 2048x512 -> 4x1 tiles', gif(4000, 1000), 'high', 85 + 4 * 170],
    ['1024x1024 WebP high', webpLossy(1024, 1024), 'high', 765],
  ] as const)('gpt-4o, %s', (_label, bytes, detail, tokens) => {
    expect(imageTokens('gpt-4o', dataUrl('image/png', bytes), detail)).toBe(tokens);
  });

  it("applies each tile family's own base and tile figures", () => {
    const url = dataUrl('image/png', png(1024, 1024));
    expect(imageTokens('gpt-4o-mini-2024-07-18', url, 'high')).toBe(2833 + 4 * 5667);
    expect(imageTokens('o1', url, 'high')).toBe(75 + 4 * 150);
    expect(imageTokens('gpt-5', url, 'high')).toBe(70 + 4 * 140);
    expect(imageTokens('openai/gpt-4.1', url, 'low')).toBe(85);
  });

  // The same guide, patch rule: "1024 x 1024 -> 1024 patches"; "1800 x 2400 -> 4275 patches, over
  // 1536: shrink to 1056 x 1408 -> 33 x 44 = 1452 patches"; tokens = patches x the model multiplier.
  it.each([
    ['gpt-4.1-mini', png(1024, 1024), Math.ceil(1024 * 1.62)],
    ['gpt-4.1-mini', png(1800, 2400), Math.ceil(1452 * 1.62)],
    ['gpt-4.1-nano', gif(1800, 2400), Math.ceil(1452 * 2.46)],
    ['o4-mini', jpeg(1024, 1024), Math.ceil(1024 * 1.72)],
    ['gpt-4.1-mini', png(100, 50), Math.ceil(4 * 2 * 1.62)],
  ] as const)('%s, patch rule', (model, bytes, tokens) => {
    expect(imageTokens(model, dataUrl('image/png', bytes), 'high')).toBe(tokens);
  });

  it("bills patch models' low detail like high, as billing shows for them", () => {
    const url = dataUrl('image/png', png(1800, 2400));
    expect(imageTokens('gpt-4.1-mini', url, 'low')).toBe(imageTokens('gpt-4.1-mini', url, 'high'));
  });

  it('sizes gpt-5.5 and later by level: low within 512px, high within 2048px, auto as the image is', () => {
    const url = dataUrl('image/png', png(4000, 3000));
    expect(imageTokens('gpt-5.5', url, 'low')).toBe(Math.ceil(16 * 12 * 1.2)); // 512x384
    expect(imageTokens('gpt-5.5', url, 'high')).toBe(Math.ceil(64 * 48 * 1.2)); // 2048x1536
    expect(imageTokens('gpt-5.5', url, 'auto')).toBe(Math.ceil(125 * 94 * 1.2)); // 4000x3000, under 30,000 patches
  });

  it('reserves the documented worst case for an image whose size is unknown (a remote URL)', () => {
    expect(imageTokens('gpt-4o', REMOTE, 'low')).toBe(85);
    expect(imageTokens('gpt-4o', REMOTE, 'high')).toBe(85 + 8 * 170); // 2 x 4 tiles: 1445
    expect(imageTokens('gpt-4o', REMOTE)).toBe(1445);
    expect(imageTokens('gpt-4.1-mini', REMOTE)).toBe(Math.ceil(1536 * 1.62));
    expect(imageTokens('gpt-5.5', REMOTE, 'low')).toBe(Math.ceil(256 * 1.2));
    expect(imageTokens('gpt-5.4', REMOTE, 'high')).toBe(Math.ceil(4096 * 1.2));
    expect(imageTokens('gpt-5.5', REMOTE, 'auto')).toBe(30_000 * 1.2);
  });

  it('counts an image for a model it does not know at the dearer of the tile and patch rules', () => {
    const url = dataUrl('image/png', png(1024, 1024));
    expect(imageTokens('claude-sonnet-4.5', url, 'high')).toBe(Math.max(765, Math.ceil(1024 * 1.2)));
    expect(imageTokens('deepseek-chat', url, 'low')).toBe(Math.ceil(1024 * 1.2)); // low may be ignored: sized as high
    expect(estimatePromptTokens(image(url, 'high')).parts.images).toBe(Math.ceil(1024 * 1.2)); // no model at all
  });

  it('uses the body model unless the served model is given', () => {
    const body = { ...image(dataUrl('image/png', png(1024, 1024)), 'high'), model: 'gpt-4o' };
    expect(estimatePromptTokens(body).parts.images).toBe(765);
    expect(estimatePromptTokens(body, { model: 'gpt-4.1-mini' }).parts.images).toBe(Math.ceil(1024 * 1.62));
  });

  it('counts a malformed data URL as the worst case for its level, and never throws', () => {
    for (const url of [
      'data:image/png;base64,!!!!not base64 at all!!!!',
      'data:image/png,rawbytes', // not base64
      dataUrl('image/png', png(1024, 1024).subarray(0, 18)), // truncated header
      dataUrl('image/jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff])), // segment length past the end
      'data:',
      '',
    ]) {
      expect(imageTokens('gpt-4o', url, 'high')).toBe(1445);
      expect(imageTokens('gpt-4.1-mini', url, 'high')).toBe(Math.ceil(1536 * 1.62));
    }
    expect(
      estimatePromptTokens(
        { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: 42 }] }] },
        { model: 'gpt-4o' },
      ).parts.images,
    ).toBe(1445);
  });

  it('never tokenizes image bytes as text', () => {
    const estimate = estimatePromptTokens(image(dataUrl('image/png', png(2048, 4096)), 'high'), {
      model: 'gpt-4o',
    });
    expect(estimate.tokens).toBe(cookbookCount([{ role: 'user', content: '' }]) + 1105);
  });
});

describe('estimatePromptTokens: audio, files and what cannot be bounded', () => {
  /** A PCM WAV: RIFF/WAVE, a 16-byte fmt chunk, then `seconds` of silence at 16 kHz, 16-bit mono. */
  function wav(seconds: number): Buffer {
    const data = Buffer.alloc(32_000 * seconds);
    const head = Buffer.alloc(44);
    head.write('RIFF', 0, 'latin1');
    head.writeUInt32LE(36 + data.length, 4);
    head.write('WAVEfmt ', 8, 'latin1');
    head.writeUInt32LE(16, 16);
    head.writeUInt16LE(1, 20); // PCM
    head.writeUInt16LE(1, 22); // mono
    head.writeUInt32LE(16_000, 24);
    head.writeUInt32LE(32_000, 28); // byte rate
    head.writeUInt16LE(2, 32);
    head.writeUInt16LE(16, 34);
    head.write('data', 36, 'latin1');
    head.writeUInt32LE(data.length, 40);
    return Buffer.concat([head, data]);
  }
  const audio = (data: string, format: string): OpenAiChatRequestLike => ({
    messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data, format } }] }],
  });

  it("counts a WAV by its header's duration, at 20 tokens a second", () => {
    expect(estimatePromptTokens(audio(wav(3).toString('base64'), 'wav')).parts.audio).toBe(60);
  });

  it('bounds audio whose duration is not read (MP3) by the lowest MPEG bitrate, 1000 bytes a second', () => {
    const mp3 = Buffer.alloc(5000, 0x55);
    expect(estimatePromptTokens(audio(mp3.toString('base64'), 'mp3')).parts.audio).toBe(5 * 20);
  });

  it('lists files as unbounded, naming the part, and counts their names', () => {
    const estimate = estimatePromptTokens({
      messages: [
        { role: 'user', content: 'Summarise these.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Two reports:' },
            { type: 'file', file: { file_id: 'file-abc123' } },
            {
              type: 'file',
              file: { filename: 'q3-report.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' },
            },
          ],
        },
      ],
    });
    expect(estimate.unbounded.map((u) => u.path)).toEqual([
      'messages[1].content[1]',
      'messages[1].content[2]',
    ]);
    expect(estimate.unbounded[0]?.reason).toMatch(/file_id/);
    expect(estimate.parts.files).toBe(text('q3-report.pdf'));
  });

  it('lists a part type OpenAI does not document, and a previous audio reply by id, as unbounded', () => {
    const estimate = estimatePromptTokens({
      messages: [
        { role: 'user', content: [{ type: 'input_video', video_url: 'https://example.com/v.mp4' }] },
        { role: 'assistant', audio: { id: 'audio_abc' } },
      ],
    });
    expect(estimate.unbounded.map((u) => u.path)).toEqual(['messages[0].content[0]', 'messages[1].audio']);
  });

  it('counts a prediction apart, for the completion side', () => {
    const prediction = { type: 'content', content: 'export const answer = 42;\n'.repeat(20) };
    const estimate = estimatePromptTokens({ messages: WEATHER_MESSAGES, prediction });
    expect(estimate.predictionTokens).toBe(text(prediction.content));
    expect(estimate.tokens).toBe(cookbookCount(WEATHER_MESSAGES));
  });
});

describe('estimatePromptTokens: the estimate is an upper bound of the plain-text count, and survives any body', () => {
  it('is at least the plain-text count when a request carries every kind of part', () => {
    const body: OpenAiChatRequestLike = {
      model: 'gpt-4o',
      messages: [
        ...WEATHER_MESSAGES,
        {
          role: 'user',
          name: 'ann',
          content: [
            { type: 'text', text: 'And in this picture?' },
            { type: 'image_url', image_url: { url: REMOTE, detail: 'low' } },
          ],
        },
      ],
      tools: [WEATHER_TOOL],
      tool_choice: 'required',
      response_format: { type: 'json_object' },
    };
    const plain = cookbookCount([
      ...WEATHER_MESSAGES,
      { role: 'user', name: 'ann', content: 'And in this picture?' },
    ]);
    const estimate = estimatePromptTokens(body);
    expect(estimate.tokens).toBeGreaterThan(plain);
    const { text: t, tools, toolCalls, responseFormat, images, audio, files } = estimate.parts;
    expect(estimate.tokens).toBe(t + tools + toolCalls + responseFormat + images + audio + files);
    expect(images).toBe(85);
  });

  it.each([
    ['no messages', {}],
    ['messages not a list', { messages: 'hello' }],
    ['a message that is a number', { messages: [42, null] }],
    [
      'content of the wrong type',
      {
        messages: [
          { role: 'user', content: { nested: true } },
          { role: 7, content: 3 },
        ],
      },
    ],
    ['tool_calls not a list', { messages: [{ role: 'assistant', tool_calls: { id: 1 } }] }],
    [
      'a tool call without function',
      { messages: [{ role: 'assistant', tool_calls: [null, { id: 5, type: 'function' }] }] },
    ],
    ['tools not a list', { tools: 'get_weather' }],
    [
      'a schema full of wrong types',
      {
        tools: [
          {
            type: 'function',
            function: {
              name: 3,
              description: [],
              parameters: { type: 'object', properties: 'x', required: 4 },
            },
          },
          {
            type: 'function',
            function: {
              name: 'f',
              parameters: {
                properties: { a: { type: 'string', enum: 'a' }, b: 5, c: { type: ['string', 'null'] } },
              },
            },
          },
          {
            type: 'custom',
            custom: {
              name: 'sql',
              format: { type: 'grammar', grammar: { syntax: 'lark', definition: 'start: "x"' } },
            },
          },
          7,
        ],
        functions: 'nope',
      },
    ],
    ['a response format of the wrong type', { response_format: 'json' }],
    ['a json_schema without its object', { response_format: { type: 'json_schema' } }],
    [
      'a tool choice of an unknown shape',
      { tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } },
    ],
    [
      'audio without data',
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] },
    ],
    [
      'a WAV cut inside its fmt chunk',
      {
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'input_audio',
                input_audio: {
                  data: Buffer.from(
                    'RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x80\x3e\0\0\0\x7d',
                    'latin1',
                  ).toString('base64'),
                },
              },
            ],
          },
        ],
      },
    ],
  ])('%s', (_label, body) => {
    const estimate = estimatePromptTokens(body);
    expect(Number.isInteger(estimate.tokens)).toBe(true);
    expect(estimate.tokens).toBeGreaterThanOrEqual(3);
  });
});

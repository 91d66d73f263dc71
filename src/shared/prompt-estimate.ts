import { countTokens } from 'gpt-tokenizer';
import {
  FUNCTION_CALL_NAME_TOKEN_OVERHEAD,
  FUNCTION_CALL_NONE_TOKEN_OVERHEAD,
  FUNCTION_DEFINITION_TOKEN_OVERHEAD,
  formatFunctionDefinitions,
} from 'gpt-tokenizer/functionCalling';
import type {
  ChatCompletionFunctionDefinition,
  ChatCompletionFunctionProperty,
  ChatCompletionObjectProperty,
} from 'gpt-tokenizer/functionCalling';
import { dataUrlBytes, imageSizeFromDataUrl } from './image-size';
import type { ImageSize } from './image-size';

/**
 * An upper estimate of the prompt tokens of an OpenAI chat-completions request, for reserving
 * money before the call: text, tool definitions, tool calls in the history, response-format
 * schemas, images and audio. Where OpenAI's accounting is unknown or disputed, the estimate takes
 * the dearer reading and says so next to the constant; the upstream's usage settles the real cost.
 *
 * Text: o200k_base (gpt-tokenizer) with the chat framing of OpenAI's cookbook "How to count tokens
 * with tiktoken" (3 per message, 1 per name, 3 to prime the reply); that notebook's example
 * counts 124, as the API did on gpt-4o.
 */

/** OpenAI's chat request as parsed JSON. Every field may be malformed, so each is checked before use. */
export interface OpenAiChatRequestLike {
  readonly model?: unknown;
  /** [{ role, content: string | parts[], name?, tool_calls?, tool_call_id?, function_call?, refusal?, audio? }] */
  readonly messages?: unknown;
  /** [{ type: 'function', function: { name, description?, parameters?, strict? } } | { type: 'custom', custom }] */
  readonly tools?: unknown;
  readonly tool_choice?: unknown;
  /** The deprecated `functions` / `function_call` pair, counted as tools. */
  readonly functions?: unknown;
  readonly function_call?: unknown;
  /** { type: 'text' | 'json_object' } | { type: 'json_schema', json_schema: { name, description?, schema?, strict? } } */
  readonly response_format?: unknown;
  readonly prediction?: unknown;
  readonly [field: string]: unknown;
}

export interface PromptEstimateOptions {
  /** The model name the upstream serves the call with (defaults to the body's `model`): picks OpenAI's image accounting. */
  readonly model?: string;
}

export interface PromptEstimateParts {
  /** Messages' framing, roles, names and text (the cookbook count), plus the reply priming. */
  text: number;
  /** Tool and function definitions and the tool choice. */
  tools: number;
  /** Assistant tool calls and tool results in the history. */
  toolCalls: number;
  responseFormat: number;
  images: number;
  /** Input audio. OpenAI bills these at its audio-token price, not the text price: price them apart. */
  audio: number;
  /** What is countable of file parts (their names); the files themselves are listed in `unbounded`. */
  files: number;
}

export interface UnboundedPart {
  /** Where in the body, e.g. `messages[2].content[1]`: what a refusal names. */
  readonly path: string;
  readonly reason: string;
}

export interface PromptEstimate {
  /** The sum of `parts`: an upper estimate of the prompt, unless `unbounded` is not empty. */
  tokens: number;
  parts: PromptEstimateParts;
  /**
   * Tokens of `prediction`. OpenAI bills the rejected ones as completion tokens
   * (usage.completion_tokens_details.rejected_prediction_tokens), on top of what max tokens caps:
   * reserve them at the completion price.
   */
  predictionTokens: number;
  /** Parts whose cost cannot be bounded from the request; `tokens` does not cover them. */
  unbounded: UnboundedPart[];
}

// OpenAI cookbook, "How to count tokens with tiktoken" (num_tokens_from_messages).
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;
// Parts are counted one by one; joined, BPE may split a part's edge differently. One token per
// boundary covers that (round up).
const PART_BOUNDARY = 1;
// The harmony format (github.com/openai/harmony, docs/format.md) frames a call as
// `<|start|>assistant<|channel|>commentary to=functions.NAME <|constrain|>json<|message|>ARGS<|call|>`:
// about 9 tokens besides name and arguments; on gpt-3.5 the API counted 3 besides the message's own
// framing (openai-chat-tokens' measurements). Round up to 10.
const TOOL_CALL_FRAME = 10;
// ... and a result as `<|start|>functions.NAME to=assistant<|channel|>commentary<|message|>OUTPUT<|end|>`:
// about 5 besides the name, which we count, on top of the message framing.
const TOOL_RESULT_FRAME = 5;
// openai-chat-tokens: the first system message gains a newline when functions are present. We
// skip its 4-token deduction for a system message (measured on gpt-3.5 and gpt-4o, not on newer
// models): the estimate stays up to 5 tokens over the API's 101 for the cookbook's weather example.
const SYSTEM_PADDING = 1;
// A named tool choice costs its name + 4, `none` 1 (openai-chat-tokens, measured); `required` is
// not documented anywhere: reserve it like a named choice.
const TOOL_CHOICE_REQUIRED = FUNCTION_CALL_NAME_TOKEN_OVERHEAD;
// Harmony puts a response format in the developer message under "# Response Formats\n\n## NAME";
// when the request has no system or developer message, that message's own framing is new.
const RESPONSE_FORMAT_FRAME = TOKENS_PER_MESSAGE + 1;
// OpenAI publishes no tokens-per-second rate for chat audio input; the Realtime API's usage shows
// about 10 per second of input audio and 20 of output (community.openai.com/t/971012). Reserve 20.
const AUDIO_TOKENS_PER_SECOND = 20;
// When a WAV header does not tell the duration (and for MP3, whose header we do not read), the
// lowest bitrate MPEG audio allows (8 kbit/s, MPEG-2.5 layer III) bounds it: bytes / 1000 seconds.
const MIN_AUDIO_BYTES_PER_SECOND = 1000;
// Special-token text in a message (`<|endoftext|>`) is ordinary text to OpenAI; gpt-tokenizer
// throws on it by default.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

export function estimatePromptTokens(
  body: OpenAiChatRequestLike,
  options: PromptEstimateOptions = {},
): PromptEstimate {
  const model = options.model ?? (typeof body.model === 'string' ? body.model : undefined);
  const tally = new Tally(imageRulesFor(model));
  const messages = Array.isArray(body.messages) ? body.messages : [];
  if (body.messages !== undefined && !Array.isArray(body.messages))
    tally.parts.text += countJson(body.messages);
  messages.forEach((message, i) => tally.countMessage(message, `messages[${i}]`));
  tally.parts.text += REPLY_PRIMING;

  const instructed = messages.some((m) => isRecord(m) && (m.role === 'system' || m.role === 'developer'));
  tally.parts.tools += countTools(body.tools, body.functions, instructed);
  tally.parts.tools += countToolChoice(body.tool_choice) + countToolChoice(body.function_call);
  tally.parts.responseFormat += countResponseFormat(body.response_format);

  const parts = tally.parts;
  const tokens =
    parts.text +
    parts.tools +
    parts.toolCalls +
    parts.responseFormat +
    parts.images +
    parts.audio +
    parts.files;
  return { tokens, parts, predictionTokens: countPrediction(body.prediction), unbounded: tally.unbounded };
}

/** Walks the messages, adding each piece to its part. */
class Tally {
  readonly parts: PromptEstimateParts = {
    text: 0,
    tools: 0,
    toolCalls: 0,
    responseFormat: 0,
    images: 0,
    audio: 0,
    files: 0,
  };
  readonly unbounded: UnboundedPart[] = [];
  /** tool_call_id -> function name, so a tool result is counted with the name OpenAI renders for it. */
  private readonly callNames = new Map<string, string>();

  constructor(private readonly imageRules: readonly ImageRule[]) {}

  countMessage(message: unknown, path: string): void {
    if (!isRecord(message)) {
      this.parts.text += TOKENS_PER_MESSAGE + countJson(message);
      return;
    }
    const { role, content, name, tool_calls, tool_call_id, function_call, refusal, audio, ...rest } = message;
    const isResult = role === 'tool' || role === 'function';
    const part: 'text' | 'toolCalls' = isResult ? 'toolCalls' : 'text';
    this.parts[part] += TOKENS_PER_MESSAGE + countValue(role);
    if (typeof name === 'string' && name.length > 0) this.parts[part] += TOKENS_PER_NAME + countText(name);
    this.countContent(content, `${path}.content`, part);
    if (refusal !== undefined && refusal !== null) this.parts.text += countValue(refusal);
    if (Array.isArray(tool_calls))
      for (const call of tool_calls) this.parts.toolCalls += this.countToolCall(call);
    else if (tool_calls !== undefined) this.parts.toolCalls += countJson(tool_calls);
    if (isRecord(function_call))
      this.parts.toolCalls += this.countToolCall({ type: 'function', function: function_call });
    if (tool_call_id !== undefined) {
      const called = typeof tool_call_id === 'string' ? this.callNames.get(tool_call_id) : undefined;
      // The id itself is likely not rendered (harmony names the function instead); count it anyway.
      this.parts.toolCalls +=
        countValue(tool_call_id) + TOOL_RESULT_FRAME + (called ? countText(`functions.${called}`) : 0);
    }
    if (audio !== undefined && audio !== null) {
      this.unbounded.push({
        path: `${path}.audio`,
        reason:
          'a previous audio reply referenced by id: its audio tokens are stored at OpenAI, not in the request',
      });
    }
    // Fields OpenAI does not document on messages (other providers' `reasoning_content`, say) may
    // be rendered by the upstream: count their JSON.
    if (Object.keys(rest).length > 0) this.parts.text += countJson(rest);
  }

  private countContent(content: unknown, path: string, part: 'text' | 'toolCalls'): void {
    if (content === undefined || content === null) return;
    if (!Array.isArray(content)) {
      this.parts[part] += countValue(content);
      return;
    }
    content.forEach((item, j) => {
      if (j > 0) this.parts[part] += PART_BOUNDARY;
      this.countPart(item, `${path}[${j}]`, part);
    });
  }

  private countPart(item: unknown, path: string, part: 'text' | 'toolCalls'): void {
    if (!isRecord(item)) {
      this.parts[part] += countValue(item);
      return;
    }
    switch (item.type) {
      case 'text':
        this.parts[part] += countValue(item.text);
        return;
      case 'refusal':
        this.parts[part] += countValue(item.refusal);
        return;
      case 'image_url':
        this.parts.images += imageTokens(item.image_url, this.imageRules);
        return;
      case 'input_audio':
        this.parts.audio += audioTokens(item.input_audio);
        return;
      case 'file': {
        const file = isRecord(item.file) ? item.file : {};
        if (typeof file.filename === 'string') this.parts.files += countText(file.filename);
        this.unbounded.push({
          path,
          reason:
            typeof file.file_id === 'string'
              ? 'a file by file_id: its bytes are stored at OpenAI, not in the request'
              : "a file: OpenAI bills a PDF's extracted text plus an image of every page, and neither the page count nor the text length can be read from compressed PDF bytes",
        });
        return;
      }
      default:
        this.parts[part] += countJson(item);
        this.unbounded.push({
          path,
          reason: `a content part of type ${JSON.stringify(item.type)}, which OpenAI does not document`,
        });
    }
  }

  private countToolCall(call: unknown): number {
    if (!isRecord(call)) return countJson(call);
    const { id, type, function: fn, custom, ...rest } = call;
    const body = type === 'custom' ? custom : fn;
    const name = isRecord(body) && typeof body.name === 'string' ? body.name : '';
    if (typeof id === 'string' && name) this.callNames.set(id, name);
    let tokens = TOOL_CALL_FRAME + countValue(id) + (name ? countText(`functions.${name}`) : 0);
    if (isRecord(body)) {
      const { name: _name, arguments: args, input, ...other } = body;
      tokens += countValue(type === 'custom' ? input : args);
      if (Object.keys(other).length > 0) tokens += countJson(other);
    } else if (body !== undefined) {
      tokens += countJson(body);
    }
    if (Object.keys(rest).length > 0) tokens += countJson(rest);
    return tokens;
  }
}

// ---------------------------------------------------------------- tools and response formats

/**
 * OpenAI renders function tools as a TypeScript namespace (the harmony docs show it; the
 * openai-chat-tokens library reproduced the API's counts to the token, and gpt-tokenizer ships its
 * formatter). That formatter drops what it cannot render (anyOf, $ref, format, minimum, default,
 * nested descriptions...); whatever it drops is counted here as JSON, so nothing in a schema goes
 * uncounted.
 */
function countTools(tools: unknown, functions: unknown, instructed: boolean): number {
  const definitions: ChatCompletionFunctionDefinition[] = [];
  const dropped: unknown[] = [];
  let tokens = 0;
  for (const tool of asList(tools, dropped)) {
    const fn = isRecord(tool) && tool.type === 'function' ? tool.function : undefined;
    if (isRecord(tool) && isRecord(fn)) {
      const { type: _type, function: _function, ...rest } = tool;
      definitions.push(toDefinition(fn, dropped));
      if (Object.keys(rest).length > 0) dropped.push(rest);
    } else {
      // Custom tools (free text or a grammar) have no published rendering: their JSON, grammar included.
      tokens += countJson(tool);
    }
  }
  for (const fn of asList(functions, dropped)) {
    if (isRecord(fn)) definitions.push(toDefinition(fn, dropped));
    else dropped.push(fn);
  }
  if (definitions.length > 0) {
    tokens += countText(formatFunctionDefinitions(definitions)) + FUNCTION_DEFINITION_TOKEN_OVERHEAD;
    if (instructed) tokens += SYSTEM_PADDING;
  }
  return tokens + (dropped.length > 0 ? countJson(dropped) : 0);
}

function toDefinition(fn: Record<string, unknown>, dropped: unknown[]): ChatCompletionFunctionDefinition {
  const { name, description, parameters, ...rest } = fn;
  const definition: ChatCompletionFunctionDefinition = { name: typeof name === 'string' ? name : '' };
  if (typeof name !== 'string') dropped.push({ name });
  if (typeof description === 'string') definition.description = description;
  else if (description !== undefined) dropped.push({ description });
  if (isRecord(parameters)) {
    const { type, ...params } = parameters;
    if (type !== undefined && type !== 'object') dropped.push({ type });
    definition.parameters = toObject(params, 0, dropped);
  } else if (parameters !== undefined) {
    dropped.push({ parameters });
  }
  if (Object.keys(rest).length > 0) dropped.push(rest); // `strict`, and anything newer
  return definition;
}

/** An object schema as the formatter renders it at `indent`: properties (described when indent < 2) and `required`. */
function toObject(
  node: Record<string, unknown>,
  indent: number,
  dropped: unknown[],
): ChatCompletionObjectProperty {
  const { properties, required, ...rest } = node;
  const object: ChatCompletionObjectProperty = { type: 'object' };
  if (isRecord(properties)) {
    object.properties = {};
    for (const [key, value] of Object.entries(properties)) {
      object.properties[key] = toProperty(value, indent, indent < 2, dropped);
    }
  } else if (properties !== undefined) {
    rest.properties = properties;
  }
  if (Array.isArray(required) && required.every((r): r is string => typeof r === 'string'))
    object.required = required;
  else if (required !== undefined) rest.required = required;
  if (Object.keys(rest).length > 0) dropped.push(rest);
  return object;
}

/** One schema node as the formatter's `formatFunctionType` renders it; what it would not render goes to `dropped`. */
function toProperty(
  node: unknown,
  indent: number,
  described: boolean,
  dropped: unknown[],
): ChatCompletionFunctionProperty {
  if (!isRecord(node)) {
    dropped.push(node);
    return { type: 'null' }; // renders as one token, like the `any` the formatter prints for unknown types
  }
  const { type, description, enum: values, items, ...rest } = node;
  let property: ChatCompletionFunctionProperty;
  const keep = { description: described && typeof description === 'string', enum: false, items: false };
  if (type === 'string' && isEnum(values, (v): v is string => typeof v === 'string')) {
    property = { type, enum: values };
    keep.enum = true;
  } else if (
    (type === 'number' || type === 'integer') &&
    isEnum(values, (v): v is number | string => typeof v === 'number' || typeof v === 'string')
  ) {
    property = { type, enum: values };
    keep.enum = true;
  } else if (
    type === 'string' ||
    type === 'number' ||
    type === 'integer' ||
    type === 'boolean' ||
    type === 'null'
  ) {
    property = { type };
  } else if (type === 'array') {
    keep.items = isRecord(items);
    property = keep.items ? { type, items: toProperty(items, indent, false, dropped) } : { type };
  } else if (type === 'object') {
    property = toObject(rest, indent + 2, dropped); // it keeps properties and required, and drops the rest
  } else {
    dropped.push(node); // a type the formatter prints as `any`: the whole node counts as JSON
    return { type: 'null' };
  }
  if (keep.description && typeof description === 'string') property.description = description;
  const left: Record<string, unknown> = {};
  if (!keep.description && description !== undefined) left.description = description;
  if (!keep.enum && values !== undefined) left.enum = values;
  if (!keep.items && items !== undefined) left.items = items;
  if (type !== 'object') Object.assign(left, rest);
  if (Object.keys(left).length > 0) dropped.push(left);
  return property;
}

function countToolChoice(choice: unknown): number {
  if (choice === undefined || choice === null || choice === 'auto') return 0;
  if (choice === 'none') return FUNCTION_CALL_NONE_TOKEN_OVERHEAD;
  if (choice === 'required') return TOOL_CHOICE_REQUIRED;
  if (isRecord(choice)) {
    // { type: 'function', function: { name } }, { type: 'custom', custom: { name } } or the legacy { name }
    const target = isRecord(choice.function)
      ? choice.function
      : isRecord(choice.custom)
        ? choice.custom
        : choice;
    if (typeof target.name === 'string') return countText(target.name) + FUNCTION_CALL_NAME_TOKEN_OVERHEAD;
  }
  return countJson(choice) + FUNCTION_CALL_NAME_TOKEN_OVERHEAD; // allowed_tools, or anything newer
}

/**
 * Harmony's "Structured output" section: "# Response Formats\n\n## {name}\n\n// {description}\n{schema}"
 * with the schema as JSON. JSON mode has no published rendering: counted as a format named
 * json_object with an empty object schema.
 */
function countResponseFormat(format: unknown): number {
  if (format === undefined || format === null) return 0;
  if (!isRecord(format)) return countJson(format);
  if (format.type === 'text') return 0;
  if (format.type === 'json_object')
    return RESPONSE_FORMAT_FRAME + countText('# Response Formats\n\n## json_object\n\n{"type":"object"}');
  if (format.type !== 'json_schema' || !isRecord(format.json_schema))
    return RESPONSE_FORMAT_FRAME + countJson(format);
  const { name, description, schema, strict: _strict, ...rest } = format.json_schema;
  const heading = `# Response Formats\n\n## ${typeof name === 'string' ? name : safeJson(name)}\n\n`;
  const comment = typeof description === 'string' ? `// ${description}\n` : '';
  const text = heading + comment + (schema === undefined ? '{}' : safeJson(schema));
  return RESPONSE_FORMAT_FRAME + countText(text) + (Object.keys(rest).length > 0 ? countJson(rest) : 0);
}

function countPrediction(prediction: unknown): number {
  if (!isRecord(prediction))
    return prediction === undefined || prediction === null ? 0 : countJson(prediction);
  const { content } = prediction;
  if (!Array.isArray(content)) return countValue(content);
  return content.reduce<number>(
    (n, part) => n + (isRecord(part) ? countValue(part.text) : countValue(part)),
    0,
  );
}

// ---------------------------------------------------------------- images

type Detail = 'low' | 'high' | 'original';

/** OpenAI's older accounting: a base cost, plus (high detail) a cost per 512px tile. */
interface TileRule {
  readonly kind: 'tile';
  readonly base: number;
  readonly perTile: number;
}

/** How an image is sized before its 32px patches are counted: fit inside maxEdge, then shrink to at most `budget` patches. */
interface PatchSizing {
  readonly maxEdge: number;
  readonly budget: number;
}

/** The newer accounting: 32px patches, times a per-model multiplier, sized by detail level. */
interface PatchRule {
  readonly kind: 'patch';
  readonly multiplier: number;
  readonly sizing: Readonly<Record<Detail, PatchSizing>>;
}

type ImageRule = TileRule | PatchRule;

const tile = (base: number, perTile: number): TileRule => ({ kind: 'tile', base, perTile });

/**
 * OpenAI's images-vision guide ("Calculating costs"), gpt-4.1-mini/nano and o4-mini: patches
 * capped at 1536, multipliers 1.62 / 2.46 / 1.72. No resize before; `detail` is documented for
 * the tile rule only, and billing observed on these models ignores `low`
 * (community.openai.com/t/1377015), so every level gets the 1536 budget.
 */
function patch1536(multiplier: number): PatchRule {
  const sizing = { maxEdge: Number.POSITIVE_INFINITY, budget: 1536 };
  return { kind: 'patch', multiplier, sizing: { low: sizing, high: sizing, original: sizing } };
}

/**
 * gpt-5.2 and later, gpt-6. We could not read the current guide itself, and the calculators that
 * quote it (jamesmcroft/openai-image-token-calculator and others on GitHub, community.openai.com
 * threads 1377015 and 1344040) disagree, so each level takes the dearest reading:
 * - multiplier 1.2 (mini 1.62, nano 2.46: the guide's figures for the small models, above what billing shows);
 * - high: fit 2048px, budget 2500 or 6144 by source: fitting 2048px alone caps it at 4096 patches;
 * - original (and auto, sized like original): 6000px / 10,000 patches by one reading, the image as
 *   sent up to a 30,000-patch rejection limit by another: we take the latter;
 * - low: fit 512px on gpt-5.5 and later; reported as ignored (sized as high) on 5.2 to 5.4.
 */
function patchCurrent(name: string, lowFits512: boolean): PatchRule {
  const multiplier = /-nano/.test(name) ? 2.46 : /-mini/.test(name) ? 1.62 : 1.2;
  const high = { maxEdge: 2048, budget: 6144 };
  const low = lowFits512 ? { maxEdge: 512, budget: 256 } : high;
  return {
    kind: 'patch',
    multiplier,
    sizing: { low, high, original: { maxEdge: Number.POSITIVE_INFINITY, budget: 30_000 } },
  };
}

/**
 * First match wins, on the name without provider prefix or case. Tile figures from the same guide:
 * 85/170 for gpt-4o, gpt-4.1, gpt-4.5; 2833/5667 for gpt-4o-mini (its low price offset in tokens);
 * 75/150 for o1, o1-pro, o3; 70/140 for gpt-5 and gpt-5.1; 65/129 for computer-use-preview.
 * gpt-5-mini/nano: the guide's 1.62/2.46, not the pricing calculator's 1.2/1.5 (the dearer).
 */
const IMAGE_RULES: ReadonlyArray<readonly [RegExp, (name: string) => ImageRule]> = [
  [/^gpt-4o-mini/, () => tile(2833, 5667)],
  [/^gpt-4\.1-mini/, () => patch1536(1.62)],
  [/^gpt-4\.1-nano/, () => patch1536(2.46)],
  [/^(o4-mini|codex-mini)/, () => patch1536(1.72)],
  [/^gpt-5-mini/, () => patch1536(1.62)],
  [/^gpt-5-nano/, () => patch1536(2.46)],
  [/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-4-turbo|gpt-4-vision)/, () => tile(85, 170)],
  [/^o[13](-pro)?(-\d{4}-\d{2}-\d{2})?$/, () => tile(75, 150)],
  [/^computer-use-preview/, () => tile(65, 129)],
  [/^gpt-5(\.1)?(-chat-latest|-pro)?(-\d{4}-\d{2}-\d{2})?$/, () => tile(70, 140)],
  [/^gpt-5\.[2-4](\D|$)/, (name) => patchCurrent(name, false)],
  [/^(gpt-5\.([5-9]|\d{2,})|gpt-([6-9]|\d{2,}))(\D|$)/, (name) => patchCurrent(name, true)],
];

/**
 * The rules an image is counted under: the model's own, or, for a model not in the table (other
 * providers, names we do not know), the dearer of OpenAI's two current accountings per image.
 */
function imageRulesFor(model: string | undefined): readonly ImageRule[] {
  const name = (model ?? '').toLowerCase().split('/').pop() ?? '';
  const found = IMAGE_RULES.find(([pattern]) => pattern.test(name));
  return found ? [found[1](name)] : [tile(85, 170), patchCurrent('', false)];
}

function imageTokens(imageUrl: unknown, rules: readonly ImageRule[]): number {
  const url =
    typeof imageUrl === 'string'
      ? imageUrl
      : isRecord(imageUrl) && typeof imageUrl.url === 'string'
        ? imageUrl.url
        : '';
  const requested = isRecord(imageUrl) ? imageUrl.detail : undefined;
  // `auto` (the default) lets OpenAI pick, so it counts as the dearest level; an unknown level too.
  const detail: Detail = requested === 'low' ? 'low' : requested === 'high' ? 'high' : 'original';
  // Remote URLs are not fetched (egress is the operator's to allow): their size is unknown.
  const size = imageSizeFromDataUrl(url);
  return Math.max(
    ...rules.map((rule) =>
      rule.kind === 'tile' ? tileTokens(rule, detail, size) : patchTokens(rule, detail, size),
    ),
  );
}

/**
 * The guide's tile rule: low costs the base; high fits the image in 2048x2048, scales it down so
 * the shortest side is 768px, and adds a tile cost per 512px square (1024x1024 -> 765 tokens,
 * 2048x4096 -> 1105). Unknown size: the largest grid the resize allows, 2 x 4 tiles (short side at
 * most 768 -> 2 tiles, long side at most 2048 -> 4). `original` is sized as high here.
 */
function tileTokens(rule: TileRule, detail: Detail, size: ImageSize | undefined): number {
  if (detail === 'low') return rule.base;
  if (!size) return rule.base + rule.perTile * 8;
  const fit = Math.min(1, 2048 / Math.max(size.width, size.height));
  const shrink = Math.min(1, 768 / (Math.min(size.width, size.height) * fit));
  const width = size.width * fit * shrink;
  const height = size.height * fit * shrink;
  // Resized sides are kept fractional and rounded up: a partial pixel past 512 costs a tile here,
  // where OpenAI may round it away (round up).
  return rule.base + rule.perTile * ceil(width / 512) * ceil(height / 512);
}

/**
 * The guide's patch rule: count 32px patches; over the budget, shrink by sqrt(32^2 * budget / (w * h)),
 * then again so a whole number of patches fits the width or height, and cap at the budget
 * (1024x1024 -> 1024 patches; 1800x2400 -> 1452). Tokens = patches x multiplier, rounded up.
 */
function patchTokens(rule: PatchRule, detail: Detail, size: ImageSize | undefined): number {
  const { maxEdge, budget } = rule.sizing[detail];
  return ceil(
    (size ? patchCount(size, maxEdge, budget) : Math.min(budget, ceil(maxEdge / 32) ** 2)) * rule.multiplier,
  );
}

function patchCount(size: ImageSize, maxEdge: number, budget: number): number {
  const fit = Math.min(1, maxEdge / Math.max(size.width, size.height));
  const width = size.width * fit;
  const height = size.height * fit;
  const patches = ceil(width / 32) * ceil(height / 32);
  if (patches <= budget) return patches;
  const shrink = Math.sqrt((32 * 32 * budget) / (width * height));
  const across = (width * shrink) / 32;
  const down = (height * shrink) / 32;
  const adjusted = shrink * Math.min(floor(across) / across, floor(down) / down);
  const resizedWidth = floor(width * adjusted);
  const resizedHeight = floor(height * adjusted);
  // A sliver (one side under a patch after shrinking) has no defined result: charge the budget.
  if (resizedWidth < 1 || resizedHeight < 1) return budget;
  return Math.min(budget, ceil(resizedWidth / 32) * ceil(resizedHeight / 32));
}

// ---------------------------------------------------------------- audio

/**
 * Seconds of a base64 WAV or MP3 (the two formats chat accepts), times AUDIO_TOKENS_PER_SECOND.
 * WAV's header gives the duration exactly; otherwise the byte length at the lowest MPEG bitrate
 * bounds it (very generous for MP3: a 128 kbit/s file is reserved 16 times over).
 */
function audioTokens(input: unknown): number {
  const data = isRecord(input) ? input.data : undefined;
  if (typeof data !== 'string' || data.length === 0) return 0; // OpenAI refuses the call: nothing is billed
  const bytes = dataUrlBytes(data) ?? Buffer.from(data, 'base64');
  const seconds = wavSeconds(bytes) ?? bytes.length / MIN_AUDIO_BYTES_PER_SECOND;
  return ceil(seconds * AUDIO_TOKENS_PER_SECOND);
}

/** RIFF/WAVE: the `fmt ` chunk's byte rate (u32 LE at 8 into it) and the `data` chunk's length. */
function wavSeconds(b: Buffer): number | undefined {
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE')
    return undefined;
  let byteRate = 0;
  for (let at = 12; at + 8 <= b.length;) {
    const id = b.toString('latin1', at, at + 4);
    const length = b.readUInt32LE(at + 4);
    if (id === 'fmt ' && at + 20 <= b.length) byteRate = b.readUInt32LE(at + 16);
    // A streamed WAV declares 0 or 0xFFFFFFFF for data: the bytes present are what OpenAI gets.
    if (id === 'data') return byteRate > 0 ? Math.min(length, b.length - at - 8) / byteRate : undefined;
    at += 8 + length + (length % 2); // chunks are padded to an even length
  }
  return undefined;
}

// ---------------------------------------------------------------- helpers

function countText(text: string): number {
  return text.length === 0 ? 0 : countTokens(text, AS_TEXT);
}

/** A string's tokens, or the JSON of anything else (a malformed field still costs what it says). */
function countValue(value: unknown): number {
  if (value === undefined || value === null) return 0;
  return typeof value === 'string' ? countText(value) : countJson(value);
}

function countJson(value: unknown): number {
  return countText(safeJson(value));
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value); // not reachable from parsed JSON (no cycles, no BigInt)
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEnum<T>(values: unknown, item: (v: unknown) => v is T): values is T[] {
  return Array.isArray(values) && values.length > 0 && values.every(item);
}

/** The items of a list field; a field that is not a list is kept for counting as JSON. */
function asList(value: unknown, dropped: unknown[]): readonly unknown[] {
  if (Array.isArray(value)) return value;
  if (value !== undefined && value !== null) dropped.push(value);
  return [];
}

// Float products like 3 * 1.2 = 3.5999999999999996 must not gain or lose a patch or a token.
function ceil(x: number): number {
  return Math.ceil(x - 1e-9);
}

function floor(x: number): number {
  return Math.floor(x + 1e-9);
}

import type {
  AnthropicEffort,
  AnthropicOutputConfig,
  AnthropicRequest,
  AnthropicTextBlock,
  AnthropicTool,
  AnthropicToolChoice,
} from './anthropic.types';
import { toAnthropicConversation } from './openai-messages-to-anthropic';
import { TranslationError, type DroppedHintListener } from './translation-error';
import {
  assertKnownKeys,
  isObject,
  join,
  own,
  readArray,
  readBoolean,
  readCount,
  readNumber,
  readObject,
  readString,
  readStrings,
  type JsonObject,
} from './wire-read';

export interface ToAnthropicOptions {
  /** The upstream's name for the model (the gateway has already mapped the client's). */
  model: string;
  /** Anthropic requires `max_tokens`; used when the client sent no limit. */
  defaultMaxTokens: number;
  /** Told about each cost hint Anthropic cannot hold, so the door can log or surface it. */
  onDroppedHint?: DroppedHintListener;
}

/** Parameters this translator maps onto an Anthropic field. */
const MAPPED = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'stop',
  'stream',
  'stream_options',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'user',
  'safety_identifier',
  'response_format',
  'reasoning_effort',
  'service_tier',
]);

/** Values that ask for what Anthropic does anyway: accepted, nothing to send. */
const DEFAULTS: Record<string, (value: unknown) => boolean> = {
  n: (v) => v === 1,
  presence_penalty: (v) => v === 0,
  frequency_penalty: (v) => v === 0,
  logprobs: (v) => v === false,
  store: (v) => v === false,
  logit_bias: (v) => isObject(v) && Object.keys(v).length === 0,
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
};

/** Why each known OpenAI parameter that changes the answer cannot be carried. */
const REFUSED: Record<string, string> = {
  n: 'n > 1 has no Anthropic equivalent: Anthropic returns one answer per request',
  logprobs: 'logprobs has no Anthropic equivalent: Anthropic returns no token probabilities',
  top_logprobs: 'top_logprobs has no Anthropic equivalent: Anthropic returns no token probabilities',
  logit_bias: 'logit_bias has no Anthropic equivalent',
  presence_penalty: 'presence_penalty has no Anthropic equivalent',
  frequency_penalty: 'frequency_penalty has no Anthropic equivalent',
  seed: 'seed has no Anthropic equivalent: Anthropic sampling cannot be seeded',
  audio: 'audio has no Anthropic equivalent: Claude answers in text only',
  modalities: 'modalities other than ["text"] have no Anthropic equivalent: Claude answers in text only',
  prediction: 'prediction (predicted outputs) has no Anthropic equivalent',
  functions: 'functions (deprecated) is not carried to Anthropic; send tools',
  function_call: 'function_call (deprecated) is not carried to Anthropic; send tool_choice',
  metadata:
    'metadata (OpenAI stored-completion tags) has no Anthropic equivalent; Anthropic metadata holds only user_id, sent from user',
  store: 'store: true (OpenAI stored completions) has no Anthropic equivalent',
  web_search_options: 'web_search_options has no Anthropic chat equivalent',
  verbosity: 'verbosity has no Anthropic equivalent',
  moderation: 'moderation has no Anthropic equivalent',
};

/** Caching hints: they change what a call costs, never what it answers, so they are dropped and reported. */
const HINTS: Record<string, string> = {
  prompt_cache_key: 'Anthropic caches by cache_control breakpoints, not by a key',
  prompt_cache_retention: 'Anthropic sets cache lifetime per breakpoint (cache_control.ttl)',
  prompt_cache_options: 'Anthropic caches by cache_control breakpoints, taken from prompt_cache_breakpoint',
};

const EFFORTS: readonly string[] = ['low', 'medium', 'high', 'xhigh', 'max'] satisfies AnthropicEffort[];

const has = (body: JsonObject, key: string) => body[key] !== undefined && body[key] !== null;

/**
 * An OpenAI Chat Completions body as an Anthropic Messages body. Every parameter is mapped,
 * accepted as a default Anthropic shares, reported as a dropped cost hint, or refused with a
 * TranslationError naming it; nothing else can happen to it.
 */
export function toAnthropicRequest(openAiBody: unknown, options: ToAnthropicOptions): AnthropicRequest {
  const body = readObject(openAiBody, 'body');
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined || MAPPED.has(key)) continue;
    const hint = own(HINTS, key);
    if (hint !== undefined) {
      options.onDroppedHint?.(key, hint);
      continue;
    }
    if (own(DEFAULTS, key)?.(value)) continue;
    throw new TranslationError(
      key,
      own(REFUSED, key) ?? `${key} is not a parameter Tollgate can carry to Anthropic`,
    );
  }

  const { system, messages } = toAnthropicConversation(body.messages, options.onDroppedHint);
  if (messages.length === 0) {
    throw new TranslationError(
      'messages',
      'messages needs at least one user or assistant message for Anthropic',
    );
  }
  const tools = has(body, 'tools') ? readArray(body.tools, 'tools').map(toAnthropicTool) : [];
  const toolChoice = toAnthropicToolChoice(body, tools.length > 0);
  const stops = has(body, 'stop') ? readStrings(body.stop, 'stop') : [];
  const userId = readUserId(body);
  const outputConfig = toOutputConfig(body);

  return {
    model: options.model,
    max_tokens: readMaxTokens(body) ?? options.defaultMaxTokens,
    ...(system.length > 0 ? { system: systemValue(system) } : {}),
    messages,
    ...(stops.length > 0 ? { stop_sequences: stops } : {}),
    ...(has(body, 'temperature') ? { temperature: readTemperature(body.temperature) } : {}),
    ...(has(body, 'top_p') ? { top_p: readNumber(body.top_p, 'top_p') } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...(toolChoice ? { tool_choice: toolChoice } : {}),
    ...(userId !== undefined ? { metadata: { user_id: userId } } : {}),
    ...(outputConfig ? { output_config: outputConfig } : {}),
    ...(has(body, 'service_tier') ? { service_tier: toServiceTier(body.service_tier) } : {}),
    ...(has(body, 'stream') ? { stream: readBoolean(body.stream, 'stream') } : {}),
  };
}

/** One plain system text stays a string, as the client wrote it; several, or cached, stay blocks. */
function systemValue(blocks: AnthropicTextBlock[]): string | AnthropicTextBlock[] {
  const only = blocks.length === 1 ? blocks[0] : undefined;
  return only && !only.cache_control ? only.text : blocks;
}

function readMaxTokens(body: JsonObject): number | undefined {
  const completion = has(body, 'max_completion_tokens')
    ? readCount(body.max_completion_tokens, 'max_completion_tokens')
    : undefined;
  const legacy = has(body, 'max_tokens') ? readCount(body.max_tokens, 'max_tokens') : undefined;
  if (completion !== undefined && legacy !== undefined && completion !== legacy) {
    throw new TranslationError(
      'max_tokens',
      'max_tokens and max_completion_tokens disagree; send one of them',
    );
  }
  const value = completion ?? legacy;
  if (value === 0) {
    const field = completion !== undefined ? 'max_completion_tokens' : 'max_tokens';
    throw new TranslationError(field, `${field} must be at least 1`);
  }
  return value;
}

function readTemperature(value: unknown): number {
  const temperature = readNumber(value, 'temperature');
  // OpenAI's scale runs to 2, Anthropic's to 1; rescaling would change what the client asked for.
  if (temperature < 0 || temperature > 1) {
    throw new TranslationError(
      'temperature',
      'temperature outside 0..1 has no Anthropic equivalent (Anthropic accepts 0 to 1)',
    );
  }
  return temperature;
}

function readUserId(body: JsonObject): string | undefined {
  const user = has(body, 'user') ? readString(body.user, 'user') : undefined;
  const safety = has(body, 'safety_identifier')
    ? readString(body.safety_identifier, 'safety_identifier')
    : undefined;
  if (user !== undefined && safety !== undefined && user !== safety) {
    throw new TranslationError(
      'safety_identifier',
      'safety_identifier and user differ; Anthropic holds one metadata.user_id',
    );
  }
  return safety ?? user;
}

function toAnthropicTool(raw: unknown, i: number): AnthropicTool {
  const path = `tools[${i}]`;
  const tool = readObject(raw, path);
  if (tool.type !== 'function') {
    throw new TranslationError(
      join(path, 'type'),
      `${path}.type "${String(tool.type)}" has no Anthropic equivalent`,
    );
  }
  assertKnownKeys(tool, ['type', 'function'], path, 'Anthropic');
  const fnPath = join(path, 'function');
  const fn = readObject(tool.function, fnPath);
  assertKnownKeys(fn, ['name', 'description', 'parameters', 'strict'], fnPath, 'Anthropic');
  return {
    name: readString(fn.name, join(fnPath, 'name')),
    ...(has(fn, 'description')
      ? { description: readString(fn.description, join(fnPath, 'description')) }
      : {}),
    // OpenAI reads missing parameters as "takes no arguments"; Anthropic needs that said.
    input_schema: has(fn, 'parameters')
      ? readObject(fn.parameters, join(fnPath, 'parameters'))
      : { type: 'object', properties: {} },
    ...(has(fn, 'strict') ? { strict: readBoolean(fn.strict, join(fnPath, 'strict')) } : {}),
  };
}

function toAnthropicToolChoice(body: JsonObject, hasTools: boolean): AnthropicToolChoice | undefined {
  const serial =
    has(body, 'parallel_tool_calls') && !readBoolean(body.parallel_tool_calls, 'parallel_tool_calls');
  const choice = has(body, 'tool_choice') ? mapToolChoice(body.tool_choice) : undefined;
  // Without tools, "auto" and "none" ask for nothing Anthropic would do differently, and
  // Anthropic refuses a tool_choice that has no tools to choose from.
  if (!hasTools && (choice === undefined || choice.type === 'auto' || choice.type === 'none'))
    return undefined;
  if (choice?.type === 'none') return choice;
  if (!serial) return choice;
  return { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
}

function mapToolChoice(raw: unknown): AnthropicToolChoice {
  if (raw === 'none') return { type: 'none' };
  if (raw === 'auto') return { type: 'auto' };
  if (raw === 'required') return { type: 'any' };
  const choice = readObject(raw, 'tool_choice');
  if (choice.type !== 'function') {
    throw new TranslationError(
      'tool_choice',
      `tool_choice type "${String(choice.type)}" has no Anthropic equivalent`,
    );
  }
  assertKnownKeys(choice, ['type', 'function'], 'tool_choice', 'Anthropic');
  const fn = readObject(choice.function, 'tool_choice.function');
  return { type: 'tool', name: readString(fn.name, 'tool_choice.function.name') };
}

function toOutputConfig(body: JsonObject): AnthropicOutputConfig | undefined {
  const config: AnthropicOutputConfig = {};
  if (has(body, 'reasoning_effort')) {
    const effort = readString(body.reasoning_effort, 'reasoning_effort');
    if (!EFFORTS.includes(effort)) {
      throw new TranslationError(
        'reasoning_effort',
        `reasoning_effort "${effort}" has no Anthropic equivalent (Anthropic's effort runs low, medium, high, xhigh, max)`,
      );
    }
    config.effort = effort as AnthropicEffort;
  }
  if (has(body, 'response_format')) {
    const schema = readJsonSchemaFormat(body.response_format);
    if (schema) config.format = { type: 'json_schema', schema };
  }
  return Object.keys(config).length > 0 ? config : undefined;
}

/**
 * `json_schema` maps to Anthropic's structured outputs (`output_config.format`), which constrain
 * decoding as OpenAI's does, rather than to a forced tool, which would turn the answer into a
 * tool call the client never asked for. `strict: false` is served strictly, a stronger promise.
 */
function readJsonSchemaFormat(raw: unknown): JsonObject | undefined {
  const format = readObject(raw, 'response_format');
  if (format.type === 'text') return undefined;
  if (format.type === 'json_object') {
    throw new TranslationError(
      'response_format',
      'response_format json_object (JSON without a schema) has no Anthropic equivalent; send json_schema',
    );
  }
  if (format.type !== 'json_schema') {
    throw new TranslationError(
      'response_format.type',
      `response_format type "${String(format.type)}" is not known`,
    );
  }
  const spec = readObject(format.json_schema, 'response_format.json_schema');
  assertKnownKeys(spec, ['name', 'schema', 'strict'], 'response_format.json_schema', 'Anthropic');
  if (!has(spec, 'schema')) {
    throw new TranslationError(
      'response_format.json_schema.schema',
      'response_format.json_schema.schema is required for Anthropic',
    );
  }
  return readObject(spec.schema, 'response_format.json_schema.schema');
}

function toServiceTier(raw: unknown): 'auto' | 'standard_only' {
  if (raw === 'auto') return 'auto';
  if (raw === 'default') return 'standard_only';
  throw new TranslationError('service_tier', `service_tier "${String(raw)}" has no Anthropic equivalent`);
}

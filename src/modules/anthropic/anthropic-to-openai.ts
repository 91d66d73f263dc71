import { toOpenAiMessages, toOpenAiSystem } from './anthropic-messages-to-openai';
import type {
  OpenAiChatRequest,
  OpenAiReasoningEffort,
  OpenAiTool,
  OpenAiToolChoice,
} from '../../shared/openai-wire';
import { TranslationError, type DroppedHintListener } from './translation-error';
import {
  assertKnownKeys,
  join,
  own,
  readArray,
  readBoolean,
  readCount,
  readNumber,
  readObject,
  readString,
  type JsonObject,
} from './wire-read';

export interface ToOpenAiOptions {
  /** Told about each `cache_control` (or earlier reasoning) the OpenAI wire cannot hold. */
  onDroppedHint?: DroppedHintListener;
}

const MAPPED = new Set([
  'model',
  'max_tokens',
  'messages',
  'system',
  'stop_sequences',
  'temperature',
  'top_p',
  'metadata',
  'stream',
  'tools',
  'tool_choice',
  'service_tier',
  'output_config',
]);

const REFUSED: Record<string, string> = {
  top_k: 'top_k has no OpenAI chat equivalent',
  thinking:
    'thinking (extended thinking with a token budget) has no OpenAI chat equivalent; use output_config.effort',
  container: 'container (Anthropic code execution) has no OpenAI equivalent',
  mcp_servers: 'mcp_servers (Anthropic MCP connector) has no OpenAI chat equivalent',
  context_management: 'context_management has no OpenAI chat equivalent',
};

const EFFORTS: readonly string[] = [
  'low',
  'medium',
  'high',
  'xhigh',
  'max',
] satisfies OpenAiReasoningEffort[];

const has = (body: JsonObject, key: string) => body[key] !== undefined && body[key] !== null;

/**
 * An Anthropic Messages body as an OpenAI Chat Completions body, for an OpenAI-compatible
 * upstream. `cache_control` is dropped and reported rather than refused: it is a cost hint that
 * such upstreams have no place for (they cache prefixes on their own, and report it in
 * `cached_tokens`), and refusing it would turn away nearly every Anthropic SDK agent.
 * Everything else is mapped or refused with a TranslationError naming it.
 */
export function toOpenAiRequest(anthropicBody: unknown, options: ToOpenAiOptions = {}): OpenAiChatRequest {
  const body = readObject(anthropicBody, 'body');
  for (const [key, value] of Object.entries(body)) {
    if (value === null || value === undefined || MAPPED.has(key)) continue;
    if (key === 'cache_control') {
      options.onDroppedHint?.(key, 'OpenAI-compatible upstreams cache prompt prefixes on their own');
      continue;
    }
    // Thinking switched off is what an OpenAI chat model does anyway.
    if (key === 'thinking' && readObject(value, 'thinking').type === 'disabled') continue;
    throw new TranslationError(
      key,
      own(REFUSED, key) ?? `${key} is not a parameter Tollgate can carry to an OpenAI-compatible upstream`,
    );
  }
  if (!has(body, 'max_tokens')) throw new TranslationError('max_tokens', 'max_tokens is required');

  const system = has(body, 'system') ? [toOpenAiSystem(body.system, options.onDroppedHint)] : [];
  const messages = [...system, ...toOpenAiMessages(body.messages, options.onDroppedHint)];
  const tools = has(body, 'tools')
    ? readArray(body.tools, 'tools').map((t, i) => toOpenAiTool(t, i, options))
    : [];
  const stops = has(body, 'stop_sequences')
    ? readArray(body.stop_sequences, 'stop_sequences').map((s, i) => readString(s, `stop_sequences[${i}]`))
    : [];
  const choice = has(body, 'tool_choice') ? toOpenAiToolChoice(body.tool_choice) : undefined;
  const user = has(body, 'metadata') ? readUserId(body.metadata) : undefined;
  const stream = has(body, 'stream') ? readBoolean(body.stream, 'stream') : undefined;

  return {
    model: readString(body.model, 'model'),
    messages,
    // max_tokens, not max_completion_tokens: the one every OpenAI-compatible server reads.
    max_tokens: readCount(body.max_tokens, 'max_tokens'),
    ...(stops.length > 0 ? { stop: stops } : {}),
    ...(has(body, 'temperature') ? { temperature: readNumber(body.temperature, 'temperature') } : {}),
    ...(has(body, 'top_p') ? { top_p: readNumber(body.top_p, 'top_p') } : {}),
    ...(tools.length > 0 ? { tools } : {}),
    ...(choice ? { tool_choice: choice.choice } : {}),
    ...(choice?.serial ? { parallel_tool_calls: false } : {}),
    ...(user !== undefined ? { user } : {}),
    ...readOutputConfig(body),
    ...(has(body, 'service_tier') ? { service_tier: toServiceTier(body.service_tier) } : {}),
    // The usage chunk is how a streamed call is metered, so it is always asked for.
    ...(stream === undefined
      ? {}
      : stream
        ? { stream, stream_options: { include_usage: true } }
        : { stream }),
  };
}

function toOpenAiTool(raw: unknown, i: number, options: ToOpenAiOptions): OpenAiTool {
  const path = `tools[${i}]`;
  const tool = readObject(raw, path);
  if (has(tool, 'type') && tool.type !== 'custom') {
    throw new TranslationError(
      join(path, 'type'),
      `${path}.type "${String(tool.type)}" (an Anthropic server tool) has no OpenAI equivalent`,
    );
  }
  assertKnownKeys(
    tool,
    ['type', 'name', 'description', 'input_schema', 'strict', 'cache_control'],
    path,
    'OpenAI',
  );
  if (has(tool, 'cache_control')) {
    options.onDroppedHint?.(
      join(path, 'cache_control'),
      'OpenAI-compatible upstreams cache prompt prefixes on their own',
    );
  }
  return {
    type: 'function',
    function: {
      name: readString(tool.name, join(path, 'name')),
      ...(has(tool, 'description')
        ? { description: readString(tool.description, join(path, 'description')) }
        : {}),
      parameters: readObject(tool.input_schema, join(path, 'input_schema')),
      ...(has(tool, 'strict') ? { strict: readBoolean(tool.strict, join(path, 'strict')) } : {}),
    },
  };
}

function toOpenAiToolChoice(raw: unknown): { choice: OpenAiToolChoice; serial: boolean } {
  const choice = readObject(raw, 'tool_choice');
  const serial =
    has(choice, 'disable_parallel_tool_use') &&
    readBoolean(choice.disable_parallel_tool_use, 'tool_choice.disable_parallel_tool_use');
  switch (choice.type) {
    case 'auto':
      assertKnownKeys(choice, ['type', 'disable_parallel_tool_use'], 'tool_choice', 'OpenAI');
      return { choice: 'auto', serial };
    case 'any':
      assertKnownKeys(choice, ['type', 'disable_parallel_tool_use'], 'tool_choice', 'OpenAI');
      return { choice: 'required', serial };
    case 'tool':
      assertKnownKeys(choice, ['type', 'name', 'disable_parallel_tool_use'], 'tool_choice', 'OpenAI');
      return {
        choice: { type: 'function', function: { name: readString(choice.name, 'tool_choice.name') } },
        serial,
      };
    case 'none':
      assertKnownKeys(choice, ['type'], 'tool_choice', 'OpenAI');
      return { choice: 'none', serial: false };
    default:
      throw new TranslationError(
        'tool_choice.type',
        `tool_choice.type "${String(choice.type)}" is not known`,
      );
  }
}

function readUserId(raw: unknown): string | undefined {
  const metadata = readObject(raw, 'metadata');
  assertKnownKeys(metadata, ['user_id'], 'metadata', 'OpenAI');
  return has(metadata, 'user_id') ? readString(metadata.user_id, 'metadata.user_id') : undefined;
}

function readOutputConfig(body: JsonObject): Pick<OpenAiChatRequest, 'reasoning_effort' | 'response_format'> {
  if (!has(body, 'output_config')) return {};
  const config = readObject(body.output_config, 'output_config');
  assertKnownKeys(config, ['effort', 'format'], 'output_config', 'OpenAI');
  const out: Pick<OpenAiChatRequest, 'reasoning_effort' | 'response_format'> = {};
  if (has(config, 'effort')) {
    const effort = readString(config.effort, 'output_config.effort');
    if (!EFFORTS.includes(effort)) {
      throw new TranslationError('output_config.effort', `output_config.effort "${effort}" is not known`);
    }
    out.reasoning_effort = effort as OpenAiReasoningEffort;
  }
  if (has(config, 'format')) {
    const format = readObject(config.format, 'output_config.format');
    assertKnownKeys(format, ['type', 'schema'], 'output_config.format', 'OpenAI');
    if (format.type !== 'json_schema') {
      throw new TranslationError(
        'output_config.format.type',
        `output_config.format.type "${String(format.type)}" is not known`,
      );
    }
    out.response_format = {
      type: 'json_schema',
      // OpenAI requires a name; Anthropic's format has none. Anthropic's is always strict.
      json_schema: {
        name: 'response',
        schema: readObject(format.schema, 'output_config.format.schema'),
        strict: true,
      },
    };
  }
  return out;
}

function toServiceTier(raw: unknown): 'auto' | 'default' {
  if (raw === 'auto') return 'auto';
  if (raw === 'standard_only') return 'default';
  throw new TranslationError('service_tier', `service_tier "${String(raw)}" has no OpenAI equivalent`);
}

import type { OpenAiToolCall } from '../../shared/openai-wire';
import { count, usageFromOpenAi, type TokenUsage } from '../../shared/token-usage';
import { UpstreamProtocolError, type UpstreamReply } from './upstream.types';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * An upstream's usage in the ledger's terms, when it is sane: whole, not negative, total = prompt +
 * completion, and the classes inside their totals. Anything else is refused: a call is never
 * charged on numbers that do not add up.
 */
export function readUsage(raw: unknown): { usage: TokenUsage | null; inconsistent: boolean } {
  if (raw === null || raw === undefined) return { usage: null, inconsistent: false };
  if (!isObject(raw)) return { usage: null, inconsistent: true };
  const whole = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const { prompt_tokens: p, completion_tokens: c, total_tokens: t } = raw;
  if (!whole(p) || !whole(c) || (t !== undefined && (!whole(t) || t !== (p as number) + (c as number)))) {
    return { usage: null, inconsistent: true };
  }
  const details = (value: unknown) => (isObject(value) ? value : {});
  const usage = usageFromOpenAi({
    prompt_tokens: p as number,
    completion_tokens: c as number,
    total_tokens: (p as number) + (c as number),
    prompt_tokens_details: {
      cached_tokens: count(details(raw.prompt_tokens_details).cached_tokens),
      cache_write_tokens: count(details(raw.prompt_tokens_details).cache_write_tokens),
    },
    completion_tokens_details: {
      reasoning_tokens: count(details(raw.completion_tokens_details).reasoning_tokens),
    },
  });
  const inconsistent =
    usage.cachedPrompt + usage.cacheWrite > usage.prompt || usage.reasoning > usage.completion;
  return inconsistent ? { usage: null, inconsistent } : { usage, inconsistent };
}

/** A whole (not streamed) answer, as an OpenAI-compatible upstream sent it. */
export function readCompletion(text: string, askedModel: string): UpstreamReply {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamProtocolError('upstream sent a body that is not JSON');
  }
  if (!isObject(json) || !Array.isArray(json.choices) || json.choices.length === 0) {
    throw new UpstreamProtocolError('upstream sent no choices');
  }
  return replyOf(json, askedModel);
}

/** The reply's reading of an answer in OpenAI's chat.completion shape: its first choice, its usage. */
export function replyOf(completion: Json, askedModel: string): UpstreamReply {
  const choices = Array.isArray(completion.choices) ? completion.choices : [];
  const first = choices.find((c) => isObject(c)) as Json | undefined;
  const message = isObject(first?.message) ? first.message : {};
  const hasAnswer =
    typeof message.content === 'string' ||
    Array.isArray(message.tool_calls) ||
    typeof message.refusal === 'string';
  if (!first || !hasAnswer)
    throw new UpstreamProtocolError('upstream sent no choice with content, tool calls or a refusal');
  const { usage, inconsistent } = readUsage(completion.usage);
  return {
    completion,
    content: typeof message.content === 'string' ? message.content : '',
    toolCalls: Array.isArray(message.tool_calls)
      ? (message.tool_calls.filter(isToolCall) as OpenAiToolCall[])
      : [],
    refusal: typeof message.refusal === 'string' ? message.refusal : null,
    finishReason: typeof first.finish_reason === 'string' ? first.finish_reason : 'stop',
    model: typeof completion.model === 'string' && completion.model ? completion.model : askedModel,
    usage,
    inconsistentUsage: inconsistent,
  };
}

function isToolCall(value: unknown): boolean {
  return isObject(value) && typeof value.id === 'string' && isObject(value.function);
}

interface ChoiceSoFar {
  index: number;
  role: string;
  content: string | null;
  refusal: string | null;
  reasoning: string | null;
  toolCalls: { id?: string; type: string; function: { name: string; arguments: string } }[];
  finishReason: string | null;
  logprobs: { content: unknown[]; refusal: unknown[] } | null;
}

/**
 * Rebuilds a streamed answer from its chunks, as OpenAI's SDK stream helpers do: text, refusal and
 * reasoning appended, tool calls by their index (id and name from their first delta, arguments
 * appended), logprobs gathered, the finish reason and the final usage chunk kept; every other
 * top-level field of the chunks (id, created, model, system_fingerprint, service_tier) as last sent.
 */
export class ChunkAssembler {
  private readonly top: Json = {};
  private readonly choices = new Map<number, ChoiceSoFar>();
  private usage: unknown = null;

  add(chunk: Json): void {
    for (const [key, value] of Object.entries(chunk)) {
      if (key === 'choices' || key === 'usage' || key === 'object') continue;
      if (value !== null && value !== undefined) this.top[key] = value;
    }
    if (chunk.usage !== null && chunk.usage !== undefined) this.usage = chunk.usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const raw of chunk.choices) {
      if (!isObject(raw)) continue;
      const index = typeof raw.index === 'number' ? raw.index : 0;
      let choice = this.choices.get(index);
      if (!choice) {
        choice = {
          index,
          role: 'assistant',
          content: null,
          refusal: null,
          reasoning: null,
          toolCalls: [],
          finishReason: null,
          logprobs: null,
        };
        this.choices.set(index, choice);
      }
      const delta = isObject(raw.delta) ? raw.delta : {};
      if (typeof delta.role === 'string') choice.role = delta.role;
      if (typeof delta.content === 'string') choice.content = (choice.content ?? '') + delta.content;
      if (typeof delta.refusal === 'string') choice.refusal = (choice.refusal ?? '') + delta.refusal;
      if (typeof delta.reasoning_content === 'string')
        choice.reasoning = (choice.reasoning ?? '') + delta.reasoning_content;
      if (Array.isArray(delta.tool_calls))
        for (const call of delta.tool_calls) this.addToolCall(choice, call);
      if (typeof raw.finish_reason === 'string') choice.finishReason = raw.finish_reason;
      if (isObject(raw.logprobs)) {
        choice.logprobs ??= { content: [], refusal: [] };
        if (Array.isArray(raw.logprobs.content)) choice.logprobs.content.push(...raw.logprobs.content);
        if (Array.isArray(raw.logprobs.refusal)) choice.logprobs.refusal.push(...raw.logprobs.refusal);
      }
    }
  }

  private addToolCall(choice: ChoiceSoFar, raw: unknown): void {
    if (!isObject(raw)) return;
    const index = typeof raw.index === 'number' ? raw.index : choice.toolCalls.length;
    const fn = isObject(raw.function) ? raw.function : {};
    const call = (choice.toolCalls[index] ??= { type: 'function', function: { name: '', arguments: '' } });
    if (typeof raw.id === 'string') call.id = raw.id;
    if (typeof raw.type === 'string') call.type = raw.type;
    if (typeof fn.name === 'string') call.function.name += fn.name;
    if (typeof fn.arguments === 'string') call.function.arguments += fn.arguments;
  }

  /** The answer so far as one chat.completion, and the reply's reading of it. */
  reply(askedModel: string): UpstreamReply {
    const choices = [...this.choices.values()]
      .sort((a, b) => a.index - b.index)
      .map((c) => ({
        index: c.index,
        message: {
          role: c.role,
          content: c.content,
          refusal: c.refusal,
          ...(c.reasoning !== null ? { reasoning_content: c.reasoning } : {}),
          ...(c.toolCalls.length > 0 ? { tool_calls: c.toolCalls.filter(Boolean) } : {}),
        },
        logprobs: c.logprobs,
        finish_reason: c.finishReason,
      }));
    if (choices.length === 0)
      choices.push({
        index: 0,
        message: { role: 'assistant', content: '', refusal: null },
        logprobs: null,
        finish_reason: null,
      });
    return replyOf({ ...this.top, object: 'chat.completion', choices, usage: this.usage }, askedModel);
  }
}

/** A whole answer as chunks (to replay a stored result on a stream): each choice's message in one delta, then the usage. */
export function chunksOf(completion: Json): Json[] {
  const head = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  const choices = Array.isArray(completion.choices) ? completion.choices.filter(isObject) : [];
  const chunks: Json[] = choices.map((choice) => {
    const message = isObject(choice.message) ? choice.message : {};
    const toolCalls = Array.isArray(message.tool_calls)
      ? message.tool_calls.map((call, index) => (isObject(call) ? { index, ...call } : call))
      : undefined;
    return {
      ...head,
      choices: [
        {
          index: choice.index ?? 0,
          delta: { ...message, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
          logprobs: choice.logprobs ?? null,
          finish_reason: choice.finish_reason ?? 'stop',
        },
      ],
    };
  });
  if (completion.usage) chunks.push({ ...head, choices: [], usage: completion.usage });
  return chunks;
}

/**
 * An embeddings answer (OpenAI's `{object: "list", data: [{embedding, index}], model, usage}`) as the
 * pipeline reads a reply: the whole answer kept as sent, its usage as prompt tokens only.
 */
export function readEmbeddings(text: string, askedModel: string): UpstreamReply {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UpstreamProtocolError('upstream sent a body that is not JSON');
  }
  if (!isObject(json) || !Array.isArray(json.data))
    throw new UpstreamProtocolError('upstream sent no embeddings');
  return embeddingsReplyOf(json, askedModel);
}

export function embeddingsReplyOf(answer: Json, askedModel: string): UpstreamReply {
  const raw = answer.usage;
  const whole = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const prompt = isObject(raw) ? raw.prompt_tokens : undefined;
  const total = isObject(raw) ? raw.total_tokens : undefined;
  const inconsistent =
    raw !== undefined && raw !== null && (!whole(prompt) || (total !== undefined && total !== prompt));
  return {
    completion: answer,
    content: '',
    toolCalls: [],
    refusal: null,
    finishReason: 'stop',
    model: typeof answer.model === 'string' && answer.model ? answer.model : askedModel,
    usage:
      whole(prompt) && !inconsistent
        ? { prompt: prompt as number, cachedPrompt: 0, cacheWrite: 0, completion: 0, reasoning: 0 }
        : null,
    inconsistentUsage: inconsistent,
  };
}

import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { toOpenAiRequest } from '../anthropic/anthropic-to-openai';
import type { AnthropicEvent, AnthropicMessage, AnthropicUsage } from '../anthropic/anthropic.types';
import { estimatePromptTokens } from '../../shared/prompt-estimate';
import { countTextTokens } from '../../shared/tokenizer';
import type { SimulationSettings } from '../providers/provider.entity';
import type { AnthropicCall, AnthropicWire } from './anthropic.transport';
import { simulatedText, sleep } from './simulated.transport';
import { UpstreamHttpError } from './upstream.types';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Anthropic caches no prefix shorter than this (Claude Sonnet's minimum). */
const MIN_CACHEABLE_TOKENS = 1024;

/**
 * The simulator speaking Anthropic's Messages API, offline: a deterministic answer (or the tool
 * call `tool_choice` demands), and prompt caching as Anthropic bills it. The prefix up to the last
 * `cache_control` breakpoint (tools, then system, then messages), when it is at least 1,024 tokens,
 * is written to the cache the first time it is seen (`cache_creation_input_tokens`) and read from it
 * after (`cache_read_input_tokens`); `input_tokens` is the rest. Streams Anthropic's event sequence.
 */
export class SimulatedAnthropicWire implements AnthropicWire {
  /** Prefix hashes this provider has cached (Anthropic keeps them five minutes; here, the last 10,000). */
  private readonly cached = new LRUCache<string, true>({ max: 10_000 });

  constructor(private readonly settings: SimulationSettings) {}

  async message(call: AnthropicCall): Promise<unknown> {
    await this.arrive(call.signal);
    return this.answer(call.body);
  }

  async *events(call: AnthropicCall): AsyncIterable<unknown> {
    await this.arrive(call.signal);
    const message = this.answer(call.body);
    const { content, usage } = message;
    yield {
      type: 'message_start',
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    } satisfies AnthropicEvent;
    yield { type: 'ping' } satisfies AnthropicEvent;
    for (const [index, block] of content.entries()) {
      if (block.type === 'text') {
        yield { type: 'content_block_start', index, content_block: { type: 'text', text: '' } };
        for (const [i, piece] of (block.text.match(/\S+\s*/g) ?? []).entries()) {
          if (i > 0 && this.settings.chunkDelayMs > 0) await sleep(this.settings.chunkDelayMs, call.signal);
          yield { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } };
        }
      } else if (block.type === 'tool_use') {
        yield { type: 'content_block_start', index, content_block: { ...block, input: {} } };
        const json = JSON.stringify(block.input);
        yield { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json } };
      }
      yield { type: 'content_block_stop', index } satisfies AnthropicEvent;
    }
    yield {
      type: 'message_delta',
      delta: { stop_reason: message.stop_reason, stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    } satisfies AnthropicEvent;
    yield { type: 'message_stop' } satisfies AnthropicEvent;
  }

  private async arrive(signal: AbortSignal | undefined): Promise<void> {
    if (this.settings.latencyMs > 0) await sleep(this.settings.latencyMs, signal);
    if (this.settings.failureRate > 0 && Math.random() < this.settings.failureRate) {
      throw new UpstreamHttpError(529, undefined, 'simulated overload', {
        type: 'overloaded_error',
        message: 'Overloaded (simulated)',
      });
    }
  }

  private answer(body: Json): AnthropicMessage {
    const model = typeof body.model === 'string' ? body.model : 'claude';
    const seed = [
      ...crypto
        .createHash('sha256')
        .update(JSON.stringify(body.messages ?? []))
        .digest(),
    ];
    const hex = (from: number) =>
      seed
        .slice(from, from + 12)
        .map((b) => b.toString(16).padStart(2, '0'))
        .join('');
    const cap = typeof body.max_tokens === 'number' ? body.max_tokens : 1024;
    const tool = demandedTool(body);
    let content: AnthropicMessage['content'];
    let stop: AnthropicMessage['stop_reason'];
    if (tool) {
      content = [{ type: 'tool_use', id: `toolu_sim_${hex(0)}`, name: tool, input: {} }];
      stop = 'tool_use';
    } else {
      const said = lastUserText(body.messages);
      const { text, finishReason } = simulatedText(model, [{ role: 'user', content: said }], seed, cap);
      content = [{ type: 'text', text }];
      stop = finishReason === 'length' ? 'max_tokens' : 'end_turn';
    }
    const output =
      content.reduce(
        (n, b) =>
          n +
          (b.type === 'text'
            ? countTextTokens(b.text)
            : b.type === 'tool_use'
              ? countTextTokens(b.name) + 2
              : 0),
        0,
      ) || 1;
    return {
      id: `msg_sim_${hex(12)}`,
      type: 'message',
      role: 'assistant',
      content,
      model,
      stop_reason: stop,
      stop_sequence: null,
      usage: { ...this.promptUsage(body), output_tokens: output },
    };
  }

  /** The prompt's tokens by our estimate of its OpenAI view, split into Anthropic's classes. */
  private promptUsage(body: Json): Omit<AnthropicUsage, 'output_tokens'> {
    let prompt: number;
    try {
      prompt = estimatePromptTokens(toOpenAiRequest({ ...body, max_tokens: 1 }) as unknown as Json).tokens;
    } catch {
      prompt = countTextTokens(JSON.stringify([body.tools, body.system, body.messages]));
    }
    const prefix = cachedPrefix(body);
    let write = 0;
    let read = 0;
    if (prefix) {
      // The prefix's share of the prompt, by its share of the body's text.
      const whole = countTextTokens(
        JSON.stringify([body.tools ?? [], body.system ?? [], body.messages ?? []]),
      );
      const tokens = Math.min(prompt, Math.round((prompt * countTextTokens(prefix)) / Math.max(1, whole)));
      if (tokens >= MIN_CACHEABLE_TOKENS) {
        const key = crypto.hash('sha256', `${String(body.model)}\n${prefix}`, 'hex');
        if (this.cached.has(key)) read = tokens;
        else {
          this.cached.set(key, true);
          write = tokens;
        }
      }
    }
    return {
      input_tokens: prompt - read - write,
      cache_creation_input_tokens: write,
      cache_read_input_tokens: read,
    };
  }
}

/** The request's blocks in Anthropic's cache order up to its last cache_control, as text; null without one. */
function cachedPrefix(body: Json): string | null {
  const blocks: unknown[] = [];
  if (Array.isArray(body.tools)) blocks.push(...body.tools);
  if (Array.isArray(body.system)) blocks.push(...body.system);
  else if (typeof body.system === 'string') blocks.push(body.system);
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    if (!isObject(message)) continue;
    if (Array.isArray(message.content)) blocks.push(...message.content);
    else blocks.push(message.content);
  }
  let last = -1;
  blocks.forEach((block, i) => {
    if (isObject(block) && isObject(block.cache_control)) last = i;
  });
  return last < 0 ? null : JSON.stringify(blocks.slice(0, last + 1));
}

function demandedTool(body: Json): string | null {
  const choice = isObject(body.tool_choice) ? body.tool_choice : null;
  if (choice?.type === 'tool' && typeof choice.name === 'string') return choice.name;
  const first = Array.isArray(body.tools) ? body.tools.find(isObject) : undefined;
  if (choice?.type === 'any' && typeof first?.name === 'string') return first.name;
  return null;
}

function lastUserText(messages: unknown): string {
  const list = Array.isArray(messages) ? messages.filter(isObject) : [];
  const last = [...list].reverse().find((m) => m.role === 'user');
  if (typeof last?.content === 'string') return last.content;
  if (!Array.isArray(last?.content)) return '';
  return last.content
    .map((b: unknown) => (isObject(b) && b.type === 'text' && typeof b.text === 'string' ? b.text : ''))
    .join(' ');
}

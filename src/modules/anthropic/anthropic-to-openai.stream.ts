import { AnthropicStreamError } from './anthropic.errors';
import type { AnthropicDeltaUsage, AnthropicEvent, AnthropicUsage } from './anthropic.types';
import type { OpenAiChunk, OpenAiDelta, OpenAiFinishReason } from '../../shared/openai-wire';
import { toFinishReason } from './response-translate';
import { toOpenAiUsage, type TokenUsage } from '../../shared/token-usage';
import { usageFromAnthropic } from './anthropic-usage';
import { TranslationError } from './translation-error';

interface OpenBlock {
  kind: 'text' | 'thinking' | 'tool' | 'redacted';
  /** The OpenAI `tool_calls[].index` of a tool block: tool blocks counted in order. */
  toolIndex: number;
  /** Argument characters already sent, to notice a tool call that streamed none. */
  argumentChars: number;
  /** The input Anthropic put in content_block_start (`{}` when it streams the rest). */
  startInput: unknown;
}

/**
 * Anthropic's SSE events in, OpenAI chat chunks out, for an OpenAI client of an Anthropic model.
 * One instance per stream. Each tool_use block becomes one OpenAI tool call whose index counts
 * tool blocks only (Anthropic's block index counts text too), so `tool_calls[].index` runs 0, 1...
 * as OpenAI's own streams do and the SDK helpers rebuild each call.
 */
export class AnthropicToOpenAiStream {
  private id: string | undefined;
  private model = '';
  private readonly created: number;
  private readonly blocks = new Map<number, OpenBlock>();
  private toolCount = 0;
  private counts: AnthropicUsage | null = null;
  private finish: OpenAiFinishReason | null = null;

  constructor(private readonly options: { id?: string; created?: number; includeUsage?: boolean } = {}) {
    this.id = options.id;
    this.created = options.created ?? Math.floor(Date.now() / 1000);
  }

  /** Token classes seen so far: what to charge if the stream ends here. Null before message_start. */
  get usage(): TokenUsage | null {
    return this.counts ? usageFromAnthropic(this.counts) : null;
  }

  get finishReason(): OpenAiFinishReason | null {
    return this.finish;
  }

  push(event: AnthropicEvent): OpenAiChunk[] {
    switch (event.type) {
      case 'message_start':
        this.id ??= event.message.id;
        this.model = event.message.model;
        this.counts = { ...event.message.usage };
        return [this.chunk({ role: 'assistant', content: '' })];
      case 'content_block_start':
        return this.startBlock(event.index, event.content_block);
      case 'content_block_delta':
        return this.blockDelta(event.index, event.delta);
      case 'content_block_stop':
        return this.stopBlock(event.index);
      case 'message_delta':
        this.recordUsage(event.usage);
        if (event.delta.stop_reason === null) return [];
        this.finish = toFinishReason(event.delta.stop_reason);
        return [this.chunk({}, this.finish)];
      case 'message_stop':
        // The usage chunk OpenAI sends with stream_options.include_usage: no choices, full usage.
        if (this.options.includeUsage === false || !this.counts) return [];
        return [{ ...this.chunk({}), choices: [], usage: toOpenAiUsage(usageFromAnthropic(this.counts)) }];
      case 'ping':
        return [];
      case 'error':
        throw new AnthropicStreamError(event.error.type, event.error.message);
      default:
        throw upstreamError(
          'type',
          `Anthropic sent an unknown stream event ${String((event as { type: unknown }).type)}`,
        );
    }
  }

  private startBlock(
    index: number,
    block: Extract<AnthropicEvent, { type: 'content_block_start' }>['content_block'],
  ): OpenAiChunk[] {
    const open: OpenBlock = { kind: 'text', toolIndex: -1, argumentChars: 0, startInput: undefined };
    switch (block.type) {
      case 'text':
        this.blocks.set(index, open);
        return block.text ? [this.chunk({ content: block.text })] : [];
      case 'thinking':
        this.blocks.set(index, { ...open, kind: 'thinking' });
        return block.thinking ? [this.chunk({ reasoning_content: block.thinking })] : [];
      case 'redacted_thinking':
        // Encrypted reasoning: nothing an OpenAI client can read.
        this.blocks.set(index, { ...open, kind: 'redacted' });
        return [];
      case 'tool_use': {
        const toolIndex = this.toolCount++;
        this.blocks.set(index, { ...open, kind: 'tool', toolIndex, startInput: block.input });
        const call = { index: toolIndex, id: block.id, type: 'function' as const };
        return [this.chunk({ tool_calls: [{ ...call, function: { name: block.name, arguments: '' } }] })];
      }
      default:
        throw upstreamError(
          'content_block.type',
          `Anthropic streamed a ${String((block as { type: unknown }).type)} block, which has no OpenAI equivalent`,
        );
    }
  }

  private blockDelta(
    index: number,
    delta: Extract<AnthropicEvent, { type: 'content_block_delta' }>['delta'],
  ): OpenAiChunk[] {
    const block = this.blocks.get(index);
    if (!block) throw upstreamError('index', `Anthropic sent a delta for block ${index} before starting it`);
    switch (delta.type) {
      case 'text_delta':
        return delta.text ? [this.chunk({ content: delta.text })] : [];
      case 'thinking_delta':
        return delta.thinking ? [this.chunk({ reasoning_content: delta.thinking })] : [];
      case 'signature_delta':
        // The signature proves the thinking to Anthropic; an OpenAI client cannot send it back.
        return [];
      case 'input_json_delta':
        if (block.kind !== 'tool')
          throw upstreamError('delta.type', `input_json_delta for non-tool block ${index}`);
        if (!delta.partial_json) return [];
        block.argumentChars += delta.partial_json.length;
        return [
          this.chunk({
            tool_calls: [{ index: block.toolIndex, function: { arguments: delta.partial_json } }],
          }),
        ];
      default:
        throw upstreamError(
          'delta.type',
          `Anthropic streamed a ${delta.type}, which has no OpenAI equivalent`,
        );
    }
  }

  /** A call that streamed no argument text still needs its JSON (`{}`), or OpenAI clients fail to parse "". */
  private stopBlock(index: number): OpenAiChunk[] {
    const block = this.blocks.get(index);
    if (block?.kind !== 'tool' || block.argumentChars > 0) return [];
    const args = JSON.stringify(block.startInput ?? {});
    return [this.chunk({ tool_calls: [{ index: block.toolIndex, function: { arguments: args } }] })];
  }

  /** message_delta counts are cumulative totals; input-side ones appear only when they changed. */
  private recordUsage(usage: AnthropicDeltaUsage): void {
    const counts = this.counts ?? { input_tokens: 0, output_tokens: 0 };
    this.counts = {
      ...counts,
      output_tokens: usage.output_tokens,
      ...(usage.input_tokens != null ? { input_tokens: usage.input_tokens } : {}),
      ...(usage.cache_creation_input_tokens != null
        ? { cache_creation_input_tokens: usage.cache_creation_input_tokens }
        : {}),
      ...(usage.cache_read_input_tokens != null
        ? { cache_read_input_tokens: usage.cache_read_input_tokens }
        : {}),
      ...(usage.output_tokens_details != null ? { output_tokens_details: usage.output_tokens_details } : {}),
    };
  }

  private chunk(delta: OpenAiDelta, finish: OpenAiFinishReason | null = null): OpenAiChunk {
    return {
      id: this.id ?? '',
      object: 'chat.completion.chunk',
      created: this.created,
      model: this.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    };
  }
}

function upstreamError(field: string, message: string): TranslationError {
  return new TranslationError(field, message, 'UPSTREAM_ERROR');
}

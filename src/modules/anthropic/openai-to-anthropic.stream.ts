import { randomUUID } from 'node:crypto';
import type { AnthropicEvent, AnthropicResponseBlock } from './anthropic.types';
import type { OpenAiChunk, OpenAiFinishReason, OpenAiToolCallDelta } from '../../shared/openai-wire';
import { toStopReason } from './response-translate';
import { usageFromOpenAi, NO_USAGE, type TokenUsage } from '../../shared/token-usage';
import { toAnthropicUsage } from './anthropic-usage';
import { TranslationError } from './translation-error';

interface OpenBlock {
  index: number;
  kind: 'text' | 'thinking' | 'tool';
  /** The OpenAI tool call index a tool block carries. */
  toolIndex: number;
}

/**
 * OpenAI chat chunks in, Anthropic's SSE events out, for an Anthropic client of an
 * OpenAI-compatible model: message_start, then per text / reasoning / tool call a
 * content_block_start, its deltas and a content_block_stop, then message_delta and message_stop
 * from `end()`. One block is open at a time, as Anthropic streams them. OpenAI reports usage in
 * a last chunk after the finish reason, so the stop reason waits for `end()` to go out with it.
 */
export class OpenAiToAnthropicStream {
  private started = false;
  /** The answer's id, which also names tool calls the upstream sent without one. */
  private messageId = '';
  private ended = false;
  private open: OpenBlock | null = null;
  private nextIndex = 0;
  /** OpenAI tool call index -> the Anthropic block that carries it. */
  private readonly toolBlocks = new Map<number, number>();
  private finish: OpenAiFinishReason | null = null;
  private refused = false;
  private reported: TokenUsage | null = null;

  /**
   * `inputTokens`, the gateway's prompt estimate, fills message_start until the upstream reports
   * (OpenAI reports only at the end); message_delta then carries the real counts.
   */
  constructor(private readonly options: { id?: string; model?: string; inputTokens?: number } = {}) {}

  /** The upstream's reported token classes; null if it has reported none (yet). */
  get usage(): TokenUsage | null {
    return this.reported;
  }

  push(chunk: OpenAiChunk): AnthropicEvent[] {
    if (this.ended) throw upstreamError('chunk', 'A chunk arrived after the stream was ended');
    const events = this.started ? [] : [this.messageStart(chunk.id, chunk.model)];
    if (chunk.usage) this.reported = usageFromOpenAi(chunk.usage);
    if (chunk.choices.length > 1 || chunk.choices.some((c) => c.index !== 0)) {
      throw upstreamError('choices', 'The upstream streamed several choices; an Anthropic answer holds one');
    }
    const choice = chunk.choices[0];
    if (!choice) return events;
    const delta = choice.delta ?? {};
    if (delta.reasoning_content) events.push(...this.textInto('thinking', delta.reasoning_content));
    if (delta.content) events.push(...this.textInto('text', delta.content));
    if (delta.refusal) {
      // What the model said when it declined: text in Anthropic's answer, with a `refusal` stop.
      this.refused = true;
      events.push(...this.textInto('text', delta.refusal));
    }
    for (const call of delta.tool_calls ?? []) events.push(...this.toolCall(call));
    if (choice.finish_reason) {
      this.finish = choice.finish_reason;
      events.push(...this.closeBlock());
    }
    return events;
  }

  /** The closing events; safe to call once whatever the upstream sent (even nothing). */
  end(): AnthropicEvent[] {
    if (this.ended) return [];
    this.ended = true;
    const events = this.started ? [] : [this.messageStart(undefined, undefined)];
    events.push(...this.closeBlock());
    const counts = toAnthropicUsage(this.reported ?? { ...NO_USAGE, prompt: this.options.inputTokens ?? 0 });
    events.push({
      type: 'message_delta',
      delta: { stop_reason: this.refused ? 'refusal' : toStopReason(this.finish), stop_sequence: null },
      usage: counts,
    });
    events.push({ type: 'message_stop' });
    return events;
  }

  private messageStart(id: string | undefined, model: string | undefined): AnthropicEvent {
    this.started = true;
    this.messageId = this.options.id ?? id ?? `msg_${randomUUID().replaceAll('-', '')}`;
    const usage = this.reported ?? { ...NO_USAGE, prompt: this.options.inputTokens ?? 0 };
    return {
      type: 'message_start',
      message: {
        id: this.messageId,
        type: 'message',
        role: 'assistant',
        content: [],
        model: this.options.model ?? model ?? '',
        stop_reason: null,
        stop_sequence: null,
        usage: toAnthropicUsage(usage),
      },
    };
  }

  private textInto(kind: 'text' | 'thinking', text: string): AnthropicEvent[] {
    const events: AnthropicEvent[] = [];
    let open = this.open;
    if (open?.kind !== kind) {
      events.push(...this.closeBlock());
      const block: AnthropicResponseBlock =
        kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
      open = this.openBlock(kind, -1, block, events);
    }
    events.push({
      type: 'content_block_delta',
      index: open.index,
      delta: kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text },
    });
    return events;
  }

  private toolCall(call: OpenAiToolCallDelta): AnthropicEvent[] {
    const events: AnthropicEvent[] = [];
    let open = this.open;
    if (!this.toolBlocks.has(call.index)) {
      const name = call.function?.name;
      if (!name) throw upstreamError('tool_calls', `Tool call ${call.index} started without a function name`);
      events.push(...this.closeBlock());
      // Some OpenAI-compatible servers omit the id; Anthropic needs one for the tool_result to name.
      const id = call.id ?? `toolu_${this.messageId}_${call.index}`;
      open = this.openBlock('tool', call.index, { type: 'tool_use', id, name, input: {} }, events);
      this.toolBlocks.set(call.index, open.index);
    } else if (open?.kind !== 'tool' || open.toolIndex !== call.index) {
      // Anthropic blocks are sequential; a call resumed after another began cannot be expressed.
      throw upstreamError('tool_calls', `Tool call ${call.index} resumed after another block began`);
    }
    const args = call.function?.arguments;
    if (args) {
      events.push({
        type: 'content_block_delta',
        index: open.index,
        delta: { type: 'input_json_delta', partial_json: args },
      });
    }
    return events;
  }

  private openBlock(
    kind: OpenBlock['kind'],
    toolIndex: number,
    block: AnthropicResponseBlock,
    events: AnthropicEvent[],
  ): OpenBlock {
    const open = { index: this.nextIndex++, kind, toolIndex };
    this.open = open;
    events.push({ type: 'content_block_start', index: open.index, content_block: block });
    return open;
  }

  private closeBlock(): AnthropicEvent[] {
    if (!this.open) return [];
    const index = this.open.index;
    this.open = null;
    return [{ type: 'content_block_stop', index }];
  }
}

function upstreamError(field: string, message: string): TranslationError {
  return new TranslationError(field, message, 'UPSTREAM_ERROR');
}

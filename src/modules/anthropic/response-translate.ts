import type { AnthropicMessage, AnthropicResponseBlock, AnthropicStopReason } from './anthropic.types';
import { parseArguments } from './openai-messages-to-anthropic';
import type { OpenAiCompletion, OpenAiFinishReason, OpenAiToolCall } from '../../shared/openai-wire';
import { toOpenAiUsage, usageFromOpenAi, NO_USAGE, type TokenUsage } from '../../shared/token-usage';
import { toAnthropicUsage, usageFromAnthropic } from './anthropic-usage';
import { TranslationError } from './translation-error';
import { own } from './wire-read';

/**
 * `pause_turn` (a server-tool turn cut to be resumed) and a full context window both mean "the
 * answer stopped before the model finished", which is what `length` tells an OpenAI client.
 */
const FINISH_REASONS: Record<AnthropicStopReason, OpenAiFinishReason> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  refusal: 'content_filter',
  pause_turn: 'length',
  model_context_window_exceeded: 'length',
};

/** OpenAI does not say whether `stop` was a stop sequence, so it reads as the natural end. */
const STOP_REASONS: Record<OpenAiFinishReason, AnthropicStopReason> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  content_filter: 'refusal',
};

export function toFinishReason(reason: AnthropicStopReason | null): OpenAiFinishReason | null {
  if (reason === null) return null;
  // An unknown future reason is still an end; "stop" is the least wrong thing to tell a client.
  return own(FINISH_REASONS, reason) ?? 'stop';
}

export function toStopReason(reason: OpenAiFinishReason | null): AnthropicStopReason | null {
  if (reason === null) return null;
  return own(STOP_REASONS, reason) ?? 'end_turn';
}

export interface TranslatedCompletion {
  completion: OpenAiCompletion;
  /** The token classes for the meter, cache writes included (OpenAI's usage shows them too). */
  usage: TokenUsage;
}

/**
 * An Anthropic answer as an OpenAI completion. Text blocks are joined (Anthropic splits text
 * around tool calls; OpenAI has one content string); thinking travels as `reasoning_content`,
 * the field DeepSeek and vLLM use, without its signature, which only Anthropic can check.
 */
export function toOpenAiCompletion(
  message: AnthropicMessage,
  options: { id?: string; created?: number } = {},
): TranslatedCompletion {
  let text = '';
  let reasoning = '';
  const calls: OpenAiToolCall[] = [];
  message.content.forEach((block: AnthropicResponseBlock, i) => {
    switch (block.type) {
      case 'text':
        text += block.text;
        return;
      case 'thinking':
        reasoning += block.thinking;
        return;
      case 'redacted_thinking':
        // Encrypted reasoning only Anthropic can read back; there is nothing to show.
        return;
      case 'tool_use':
        calls.push({
          id: block.id,
          type: 'function',
          function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) },
        });
        return;
      default:
        throw new TranslationError(
          `content[${i}].type`,
          `Anthropic answered a ${String((block as { type: unknown }).type)} block, which has no OpenAI equivalent`,
          'UPSTREAM_ERROR',
        );
    }
  });
  const usage = usageFromAnthropic(message.usage);
  const refused = message.stop_reason === 'refusal';
  return {
    usage,
    completion: {
      id: options.id ?? message.id,
      object: 'chat.completion',
      created: options.created ?? Math.floor(Date.now() / 1000),
      model: message.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text === '' && (calls.length > 0 || refused) ? null : text,
            // OpenAI clients test `refusal` for null; Anthropic's explanation is the closest text.
            refusal: refused ? (message.stop_details?.explanation ?? 'The model declined to answer') : null,
            ...(calls.length > 0 ? { tool_calls: calls } : {}),
            ...(reasoning !== '' ? { reasoning_content: reasoning } : {}),
          },
          finish_reason: toFinishReason(message.stop_reason) ?? 'stop',
          logprobs: null,
        },
      ],
      usage: toOpenAiUsage(usage),
    },
  };
}

export interface TranslatedMessage {
  message: AnthropicMessage;
  usage: TokenUsage;
}

/**
 * An OpenAI completion as an Anthropic answer. Reasoning text (`reasoning_content`) becomes a
 * thinking block with an empty signature: the text is kept, and no signature is invented.
 */
export function toAnthropicMessage(
  completion: OpenAiCompletion,
  options: { id?: string } = {},
): TranslatedMessage {
  if (completion.choices.length !== 1) {
    throw new TranslationError(
      'choices',
      `The upstream answered ${completion.choices.length} choices; an Anthropic answer holds exactly one`,
      'UPSTREAM_ERROR',
    );
  }
  const choice = completion.choices[0]!;
  const answer = choice.message;
  const content: AnthropicResponseBlock[] = [];
  if (answer.reasoning_content)
    content.push({ type: 'thinking', thinking: answer.reasoning_content, signature: '' });
  if (answer.content) content.push({ type: 'text', text: answer.content });
  // A refusal is what the model said; Anthropic holds it as text, next to a `refusal` stop.
  if (answer.refusal) content.push({ type: 'text', text: answer.refusal });
  (answer.tool_calls ?? []).forEach((call, i) => {
    const path = `choices[0].message.tool_calls[${i}]`;
    if (call.type !== 'function') {
      throw new TranslationError(
        `${path}.type`,
        `The upstream answered a ${String(call.type)} tool call`,
        'UPSTREAM_ERROR',
      );
    }
    content.push({
      type: 'tool_use',
      id: call.id,
      name: call.function.name,
      input: parseArguments(call.function.arguments, `${path}.function.arguments`, 'UPSTREAM_ERROR'),
    });
  });
  const usage = completion.usage ? usageFromOpenAi(completion.usage) : { ...NO_USAGE };
  return {
    usage,
    message: {
      id: options.id ?? completion.id,
      type: 'message',
      role: 'assistant',
      content,
      model: completion.model,
      stop_reason: answer.refusal ? 'refusal' : (toStopReason(choice.finish_reason) ?? 'end_turn'),
      stop_sequence: null,
      usage: toAnthropicUsage(usage),
    },
  };
}

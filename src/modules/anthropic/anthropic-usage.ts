import { count, type TokenUsage } from '../../shared/token-usage';
import type { AnthropicDeltaUsage, AnthropicUsage } from './anthropic.types';

/** Anthropic's usage in the ledger's terms: its `input_tokens` leaves out both cache classes. */
export function usageFromAnthropic(usage: AnthropicUsage | AnthropicDeltaUsage): TokenUsage {
  const cachedPrompt = count(usage.cache_read_input_tokens);
  const cacheWrite = count(usage.cache_creation_input_tokens);
  return {
    prompt: count(usage.input_tokens) + cachedPrompt + cacheWrite,
    cachedPrompt,
    cacheWrite,
    completion: count(usage.output_tokens),
    reasoning: count(usage.output_tokens_details?.thinking_tokens),
  };
}

/**
 * `input_tokens` is what is left of the prompt once both cache classes are taken out; an
 * upstream whose classes exceed its own prompt total is clamped at 0 rather than sent negative.
 */
export function toAnthropicUsage(usage: TokenUsage): AnthropicUsage {
  return {
    input_tokens: Math.max(0, usage.prompt - usage.cachedPrompt - usage.cacheWrite),
    output_tokens: usage.completion,
    cache_creation_input_tokens: usage.cacheWrite,
    cache_read_input_tokens: usage.cachedPrompt,
    ...(usage.reasoning > 0 ? { output_tokens_details: { thinking_tokens: usage.reasoning } } : {}),
  };
}

import type { OpenAiUsage } from './openai-wire';

/**
 * Token classes in the ledger's terms (OpenAI's accounting): `prompt` is every prompt token,
 * cache reads and cache writes included; `reasoning` is inside `completion`. Anthropic reports
 * the other way round (`input_tokens` excludes both cache classes), which is where LiteLLM kept
 * double-charging or zero-charging cache tokens (#5443, #9812, #11364): converting in exactly one
 * place keeps every door and every meter on the same numbers.
 */
export interface TokenUsage {
  prompt: number;
  cachedPrompt: number;
  cacheWrite: number;
  completion: number;
  reasoning: number;
}

export const NO_USAGE: Readonly<TokenUsage> = {
  prompt: 0,
  cachedPrompt: 0,
  cacheWrite: 0,
  completion: 0,
  reasoning: 0,
};

/** A count from an upstream: anything but a non-negative integer reads as 0, never NaN. */
export function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

export function usageFromOpenAi(usage: OpenAiUsage): TokenUsage {
  return {
    prompt: count(usage.prompt_tokens),
    cachedPrompt: count(usage.prompt_tokens_details?.cached_tokens),
    cacheWrite: count(usage.prompt_tokens_details?.cache_write_tokens),
    completion: count(usage.completion_tokens),
    reasoning: count(usage.completion_tokens_details?.reasoning_tokens),
  };
}

/** `cache_write_tokens` is in OpenAI's own usage type now, so an OpenAI client can read it. */
export function toOpenAiUsage(usage: TokenUsage): OpenAiUsage {
  return {
    prompt_tokens: usage.prompt,
    completion_tokens: usage.completion,
    total_tokens: usage.prompt + usage.completion,
    prompt_tokens_details: { cached_tokens: usage.cachedPrompt, cache_write_tokens: usage.cacheWrite },
    completion_tokens_details: { reasoning_tokens: usage.reasoning },
  };
}

import type { Pico } from '../../shared/money';
import type { TokenUsage } from '../../shared/token-usage';

/** A model's prices, USD per million tokens as pico-dollars (null: that class has no price of its own). */
export interface ModelPrices {
  promptPrice: Pico;
  completionPrice: Pico;
  cachedPromptPrice: Pico | null;
  cacheWritePrice: Pico | null;
}

export interface PricedUsage {
  cost: Pico;
  /** What the cache saved against the full prompt price (negative when cache writes cost more). */
  cacheSavings: Pico;
  /** Set when a class was charged at the prompt price for want of its own: never guessed silently. */
  note: string | null;
}

/**
 * The exact cost of a call's tokens, every class at its price:
 * (prompt - cached - cacheWrite) x promptPrice + cached x cachedPromptPrice
 * + cacheWrite x cacheWritePrice + completion x completionPrice, per million. Reasoning tokens are
 * inside the completion tokens (OpenAI's and Anthropic's accounting): reported, not charged twice. A
 * class reported for a model without its price is charged at the prompt price, and `note` says so.
 * Prices carry at most 6 decimals per million, so every product is a whole number of pico-dollars.
 */
export function priceUsage(usage: TokenUsage, prices: ModelPrices): PricedUsage {
  // Classes can only be parts of the prompt: an upstream that reports more is read as the whole prompt.
  const cached = Math.min(usage.cachedPrompt, usage.prompt);
  const writes = Math.min(usage.cacheWrite, usage.prompt - cached);
  const plain = usage.prompt - cached - writes;
  const notes: string[] = [];
  const cachedPrice = prices.cachedPromptPrice ?? prices.promptPrice;
  if (cached > 0 && prices.cachedPromptPrice === null) {
    notes.push(
      `${cached} cached prompt tokens charged at the prompt price (the model has no cachedPromptPrice)`,
    );
  }
  const writePrice = prices.cacheWritePrice ?? prices.promptPrice;
  if (writes > 0 && prices.cacheWritePrice === null) {
    notes.push(`${writes} cache-write tokens charged at the prompt price (the model has no cacheWritePrice)`);
  }
  const micro =
    BigInt(plain) * prices.promptPrice +
    BigInt(cached) * cachedPrice +
    BigInt(writes) * writePrice +
    BigInt(usage.completion) * prices.completionPrice;
  const saved =
    BigInt(cached) * (prices.promptPrice - cachedPrice) + BigInt(writes) * (prices.promptPrice - writePrice);
  return {
    cost: micro / 1_000_000n,
    cacheSavings: saved / 1_000_000n,
    note: notes.length > 0 ? notes.join('; ') : null,
  };
}

/**
 * The most one prompt token can cost on this model, for reserving: a cache write may cost more
 * than a plain prompt token (Anthropic's 1.25x), and the call may write every token it sends.
 */
export function worstPromptPrice(prices: ModelPrices): Pico {
  const write = prices.cacheWritePrice ?? 0n;
  return write > prices.promptPrice ? write : prices.promptPrice;
}

/** The worst case of a call: every prompt token at its dearest, and every allowed completion token. */
export function worstCaseCost(prices: ModelPrices, promptTokens: number, completionTokens: number): Pico {
  return (
    (BigInt(promptTokens) * worstPromptPrice(prices) + BigInt(completionTokens) * prices.completionPrice) /
    1_000_000n
  );
}

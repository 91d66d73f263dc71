import { countTextTokens } from './tokenizer';

/**
 * OpenAI's embeddings `input`: one text, several texts, one token array, or several token arrays.
 * Each item as the pipeline reads it: a text, or the tokens already counted.
 */
export type EmbeddingItem = string | number[];

/** The inputs of an embeddings request, one per vector; null when `input` is none of OpenAI's four shapes. */
export function embeddingItems(input: unknown): EmbeddingItem[] | null {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) return null;
  if (input.every((v) => typeof v === 'number')) return [input as number[]];
  if (input.every((v) => typeof v === 'string')) return input as string[];
  if (input.every((v) => Array.isArray(v) && v.every((t) => typeof t === 'number')))
    return input as number[][];
  return null;
}

/** Prompt tokens of the inputs: texts by the tokenizer, token arrays by their length. */
export function embeddingTokens(items: readonly EmbeddingItem[]): number {
  return items.reduce((n, item) => n + (typeof item === 'string' ? countTextTokens(item) : item.length), 0);
}

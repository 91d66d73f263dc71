import { countTokens } from 'gpt-tokenizer';

// OpenAI's accounting for chat prompts: each message carries a few framing tokens, and every
// reply is primed with three more. o200k_base is the encoding of current OpenAI models; for
// others it is an estimate, which is why the estimate only reserves and the upstream's usage settles.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

/** A chat message as far as counting goes: its role, its text, and its name when it has one. */
export interface TextMessage {
  role: string;
  content: string;
  name?: string | null;
}

/**
 * Special tokens ("<|endoftext|>") in a prompt are text the client sent, to be counted as such: by
 * default the tokenizer throws on them, which would turn such a prompt into a server error.
 */
export const AS_TEXT = { disallowedSpecial: new Set<string>() };

export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text, AS_TEXT);
}

export function countChatTokens(messages: readonly TextMessage[]): number {
  return chatTotal(messages, (text) => countTextTokens(text));
}

/** REPLY_PRIMING + per message: framing + content + role (+ name), with `count` called in that order. */
function chatTotal(messages: readonly TextMessage[], count: (text: string) => number): number {
  let total = REPLY_PRIMING;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + count(message.content) + count(message.role);
    const name = count(message.name ?? '');
    if (message.name) total += TOKENS_PER_NAME + name;
  }
  return total;
}

import { countTokens } from 'gpt-tokenizer';
import type { ChatMessage } from '../providers/upstream.types';

// OpenAI's accounting for chat prompts: each message carries a few framing tokens, and every
// reply is primed with three more. o200k_base is the encoding of current OpenAI models; for
// others it is an estimate, which is why the estimate only reserves and the upstream's usage settles.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

export function countChatTokens(messages: readonly ChatMessage[]): number {
  let total = REPLY_PRIMING;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + countTextTokens(message.content) + countTextTokens(message.role);
    if (message.name) total += TOKENS_PER_NAME + countTextTokens(message.name);
  }
  return total;
}

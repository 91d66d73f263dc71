import crypto from 'node:crypto';
import { countChatTokens, countTextTokens } from '../../shared/tokenizer';
import type { SimulationSettings } from '../providers/provider.entity';
import {
  UpstreamHttpError,
  type UpstreamReply,
  type UpstreamRequest,
  type UpstreamTransport,
} from './upstream.types';

const WORDS = (
  'the gateway counts every token and every cent so budgets hold under load while models answer ' +
  'quickly cheaply and predictably for each project and key in the ledger'
).split(' ');

/**
 * The built-in offline provider: a deterministic reply (same prompt, same answer), usage
 * counted with the real tokenizer, and configurable latency and failure rate.
 */
export class SimulatedTransport implements UpstreamTransport {
  constructor(private readonly settings: SimulationSettings) {}

  async complete(req: UpstreamRequest): Promise<UpstreamReply> {
    if (this.settings.latencyMs > 0) await sleep(this.settings.latencyMs, req.signal);
    if (this.settings.failureRate > 0 && Math.random() < this.settings.failureRate) {
      throw new UpstreamHttpError(503, undefined, 'simulated upstream failure');
    }
    const { text, tokens, finishReason } = simulatedReply(req);
    const promptTokens = countChatTokens(req.messages);
    if (req.onDelta) {
      // Word by word, with the configured pause between chunks; an abort stops it where it is.
      const pieces = text.match(/\S+\s*/g) ?? [];
      for (const [i, piece] of pieces.entries()) {
        if (i > 0 && this.settings.chunkDelayMs > 0) await sleep(this.settings.chunkDelayMs, req.signal);
        if (req.signal?.aborted) throw req.signal.reason;
        req.onDelta(piece);
      }
    }
    return {
      content: text,
      finishReason,
      model: req.model,
      usage: { promptTokens, completionTokens: tokens, totalTokens: promptTokens + tokens },
    };
  }
}

/** The reply text for a request: seeded by the prompt, cut at `maxTokens`. */
export function simulatedReply(req: Pick<UpstreamRequest, 'messages' | 'maxTokens' | 'model'>): {
  text: string;
  tokens: number;
  finishReason: string;
} {
  const lastUser = [...req.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const seed = crypto.createHash('sha256').update(JSON.stringify(req.messages)).digest();
  const wanted = 12 + (seed[0] % 40);
  const words = [
    `[${req.model}]`,
    'Simulated',
    'reply',
    'to',
    `"${lastUser.slice(0, 40).replace(/\s+/g, ' ')}":`,
  ];
  for (let i = 0; words.length < wanted; i++) words.push(WORDS[seed[(i + 1) % seed.length] % WORDS.length]);
  let text = words.join(' ') + '.';
  let tokens = countTextTokens(text);
  if (tokens <= req.maxTokens) return { text, tokens, finishReason: 'stop' };
  // Cut word by word until it fits: the reply never exceeds maxTokens, as a real upstream's would not.
  while (words.length > 0 && tokens > req.maxTokens) {
    words.pop();
    text = words.join(' ');
    tokens = countTextTokens(text);
  }
  return { text, tokens, finishReason: 'length' };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

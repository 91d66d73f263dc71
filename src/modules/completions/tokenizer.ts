import { Worker } from 'node:worker_threads';
import { countTokens } from 'gpt-tokenizer';
import type { ChatMessage } from '../providers/upstream.types';

// OpenAI's accounting for chat prompts: each message carries a few framing tokens, and every
// reply is primed with three more. o200k_base is the encoding of current OpenAI models; for
// others it is an estimate, which is why the estimate only reserves and the upstream's usage settles.
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_NAME = 1;
const REPLY_PRIMING = 3;

/** Prompts longer than this are counted on a worker thread, so one huge prompt does not stall every other call. */
export const OFF_THREAD_CHARS = 50_000;

export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

export function countChatTokens(messages: readonly ChatMessage[]): number {
  return chatTotal(messages, (text) => countTextTokens(text));
}

/** The same count; on a worker thread when the prompt is long. */
export async function countChatTokensAsync(messages: readonly ChatMessage[]): Promise<number> {
  const chars = messages.reduce((n, m) => n + m.content.length, 0);
  if (chars < OFF_THREAD_CHARS) return countChatTokens(messages);
  const texts = messages.flatMap((m) => [m.content, m.role, m.name ?? '']);
  const counts = await tokenWorker().count(texts);
  let i = 0;
  return chatTotal(messages, () => counts[i++]);
}

/** REPLY_PRIMING + per message: framing + content + role (+ name), with `count` called in that order. */
function chatTotal(messages: readonly ChatMessage[], count: (text: string) => number): number {
  let total = REPLY_PRIMING;
  for (const message of messages) {
    total += TOKENS_PER_MESSAGE + count(message.content) + count(message.role);
    const name = count(message.name ?? '');
    if (message.name) total += TOKENS_PER_NAME + name;
  }
  return total;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { countTokens } = require(workerData.tokenizer);
parentPort.on('message', ({ id, texts }) => {
  parentPort.postMessage({ id, counts: texts.map((t) => (t.length === 0 ? 0 : countTokens(t))) });
});
`;

/** One lazily started worker thread that counts tokens; it never keeps the process alive. */
class TokenWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (c: number[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { tokenizer: require.resolve('gpt-tokenizer') },
    });
    this.worker.unref();
    this.worker.on('message', ({ id, counts }: { id: number; counts: number[] }) => {
      this.pending.get(id)?.resolve(counts);
      this.pending.delete(id);
    });
    this.worker.on('error', (error) => {
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
      worker = undefined; // the next long prompt starts a fresh one
    });
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }

  count(texts: string[]): Promise<number[]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, texts });
    });
  }
}

let worker: TokenWorker | undefined;
function tokenWorker(): TokenWorker {
  worker ??= new TokenWorker();
  return worker;
}

/** Stops the worker thread, if one was started (at shutdown; a later long prompt starts another). */
export async function stopTokenWorker(): Promise<void> {
  const current = worker;
  worker = undefined;
  await current?.stop();
}

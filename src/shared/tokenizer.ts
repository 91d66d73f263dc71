import path from 'node:path';
import { Worker } from 'node:worker_threads';
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

/** Prompts longer than this are counted on a worker thread, so one huge prompt does not stall every other call. */
export const OFF_THREAD_CHARS = 50_000;

export function countTextTokens(text: string): number {
  return text.length === 0 ? 0 : countTokens(text);
}

export function countChatTokens(messages: readonly TextMessage[]): number {
  return chatTotal(messages, (text) => countTextTokens(text));
}

/** The same count; on a worker thread when the prompt is long. */
export async function countChatTokensAsync(messages: readonly TextMessage[]): Promise<number> {
  const chars = messages.reduce((n, m) => n + m.content.length, 0);
  if (chars < OFF_THREAD_CHARS) return countChatTokens(messages);
  const texts = messages.flatMap((m) => [m.content, m.role, m.name ?? '']);
  const counts = await tokenWorker().count(texts);
  let i = 0;
  return chatTotal(messages, () => counts[i++]);
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

/**
 * The worker's own file, beside this one: compiled JavaScript when running from dist/, TypeScript
 * when running from the sources (ts-node, jest), which the worker then loads through ts-node too.
 */
const WORKER_FILE = path.join(__dirname, `tokenizer.worker${path.extname(__filename)}`);
const WORKER_ARGV = __filename.endsWith('.ts') ? ['--require', 'ts-node/register/transpile-only'] : [];

/** One lazily started worker thread that counts tokens; it never keeps the process alive. */
class TokenWorker {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (c: number[]) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor() {
    this.worker = new Worker(WORKER_FILE, { execArgv: WORKER_ARGV });
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

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  estimatePromptTokens,
  type OpenAiChatRequestLike,
  type PromptEstimate,
  type PromptEstimateOptions,
} from './prompt-estimate';

/** Requests longer than this (as JSON) are estimated on a worker thread, so one huge prompt does not stall every other call. */
export const OFF_THREAD_CHARS = 50_000;

/** The same estimate as estimatePromptTokens; on a worker thread when the request is long. */
export async function estimatePromptTokensAsync(
  body: OpenAiChatRequestLike,
  options: PromptEstimateOptions = {},
): Promise<PromptEstimate> {
  if (JSON.stringify(body).length < OFF_THREAD_CHARS) return estimatePromptTokens(body, options);
  return estimateWorker().estimate(body, options);
}

/**
 * The worker's own file, beside this one: compiled JavaScript when running from dist/, TypeScript
 * when running from the sources (ts-node, jest), which the worker then loads through ts-node too.
 */
const WORKER_FILE = path.join(__dirname, `estimate.worker${path.extname(__filename)}`);
const WORKER_ARGV = __filename.endsWith('.ts') ? ['--require', 'ts-node/register/transpile-only'] : [];

/** One lazily started worker thread that estimates; it never keeps the process alive. */
class EstimateWorker {
  private readonly worker = new Worker(WORKER_FILE, { execArgv: WORKER_ARGV });
  private readonly pending = new Map<
    number,
    { resolve: (e: PromptEstimate) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;

  constructor() {
    this.worker.unref();
    this.worker.on('message', ({ id, estimate }: { id: number; estimate: PromptEstimate }) => {
      this.pending.get(id)?.resolve(estimate);
      this.pending.delete(id);
    });
    this.worker.on('error', (error) => {
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
      worker = undefined; // the next long request starts a fresh one
    });
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }

  estimate(body: OpenAiChatRequestLike, options: PromptEstimateOptions): Promise<PromptEstimate> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, body, options });
    });
  }
}

let worker: EstimateWorker | undefined;
function estimateWorker(): EstimateWorker {
  worker ??= new EstimateWorker();
  return worker;
}

/** Stops the worker thread, if one was started (at shutdown; a later long request starts another). */
export async function stopEstimateWorker(): Promise<void> {
  const current = worker;
  worker = undefined;
  await current?.stop();
}

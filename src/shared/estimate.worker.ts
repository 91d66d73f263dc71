import { parentPort } from 'node:worker_threads';
import { estimatePromptTokens, type PromptEstimateOptions } from './prompt-estimate';

/** The estimating thread (see prompt-estimate.async.ts): estimates each request it is sent, answers the estimate. */
parentPort?.on(
  'message',
  ({ id, body, options }: { id: number; body: Record<string, unknown>; options: PromptEstimateOptions }) => {
    parentPort?.postMessage({ id, estimate: estimatePromptTokens(body, options) });
  },
);

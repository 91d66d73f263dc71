import { parentPort } from 'node:worker_threads';
import { countTokens } from 'gpt-tokenizer';

/** The token-counting thread (see tokenizer.ts): counts each text of a message, answers with the counts. */
parentPort?.on('message', ({ id, texts }: { id: number; texts: string[] }) => {
  parentPort?.postMessage({ id, counts: texts.map((t) => (t.length === 0 ? 0 : countTokens(t))) });
});

import {
  estimatePromptTokensAsync,
  OFF_THREAD_CHARS,
  stopEstimateWorker,
} from '../../src/shared/prompt-estimate.async';
import { countChatTokens } from '../../src/shared/tokenizer';
import type { TextMessage } from '../../src/shared/tokenizer';

/** How many times the event loop turned while `work` ran: 0 or 1 when it held the thread all along. */
async function loopTurnsDuring(work: () => Promise<unknown> | unknown): Promise<number> {
  let turns = 0;
  let done = false;
  const spin = () => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  await work();
  done = true;
  return turns;
}

describe('tokenizer', () => {
  afterAll(() => stopEstimateWorker());
  const offThread = async (messages: TextMessage[]) => (await estimatePromptTokensAsync({ messages })).tokens;

  const big: TextMessage[] = [
    { role: 'system', content: 'You are terse.' },
    {
      role: 'user',
      content: Array.from({ length: 120_000 }, (_, i) => `w${(i * 7919) % 100_003}`).join(' '),
      name: 'ann',
    },
  ];

  it('counts a long prompt off the event loop, to the same number', async () => {
    expect(big[1]!.content.length).toBeGreaterThan(OFF_THREAD_CHARS);
    const sync = countChatTokens(big);
    expect(await offThread(big)).toBe(sync);
    // Counted inline, the loop cannot turn until it is done; counted by the worker, it keeps turning.
    expect(await loopTurnsDuring(() => countChatTokens(big))).toBeLessThanOrEqual(1);
    expect(await loopTurnsDuring(() => offThread(big))).toBeGreaterThan(10);
  });

  it('counts special tokens a client sends as plain text, never failing on them', async () => {
    const tricky: TextMessage[] = [{ role: 'user', content: 'end here <|endoftext|> and <|im_start|>' }];
    expect(countChatTokens(tricky)).toBeGreaterThan(8);
    const long: TextMessage[] = [{ role: 'user', content: `${'x '.repeat(30_000)}<|endoftext|>` }];
    expect(await offThread(long)).toBe(countChatTokens(long));
  });

  it('counts short prompts inline, with the chat framing', async () => {
    const short: TextMessage[] = [{ role: 'user', content: 'Hi' }];
    expect(await offThread(short)).toBe(countChatTokens(short));
    expect(countChatTokens(short)).toBe(3 + 3 + 1 + 1); // priming + framing + "Hi" + "user"
  });
});

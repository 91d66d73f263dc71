import {
  countChatTokens,
  countChatTokensAsync,
  OFF_THREAD_CHARS,
  stopTokenWorker,
} from '../../src/modules/completions/tokenizer';
import type { ChatMessage } from '../../src/modules/providers/upstream.types';

/** The longest gap between event-loop turns while `work` runs. */
async function maxLoopGap(work: () => Promise<unknown> | unknown): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  await work();
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  return worst;
}

describe('tokenizer', () => {
  afterAll(() => stopTokenWorker());

  const big: ChatMessage[] = [
    { role: 'system', content: 'You are terse.' },
    {
      role: 'user',
      content: Array.from({ length: 120_000 }, (_, i) => `w${(i * 7919) % 100_003}`).join(' '),
      name: 'ann',
    },
  ];

  it('counts a long prompt off the event loop, to the same number', async () => {
    expect(big[1].content.length).toBeGreaterThan(OFF_THREAD_CHARS);
    const sync = countChatTokens(big);
    expect(await countChatTokensAsync(big)).toBe(sync);
    await countChatTokensAsync(big); // the worker is warm now
    const blocking = await maxLoopGap(() => countChatTokens(big));
    const offThread = await maxLoopGap(() => countChatTokensAsync(big));
    // compared within one run: the loop keeps turning while the worker counts
    expect(offThread).toBeLessThan(blocking / 2);
  });

  it('counts short prompts inline, with the chat framing', async () => {
    const short: ChatMessage[] = [{ role: 'user', content: 'Hi' }];
    expect(await countChatTokensAsync(short)).toBe(countChatTokens(short));
    expect(countChatTokens(short)).toBe(3 + 3 + 1 + 1); // priming + framing + "Hi" + "user"
  });
});

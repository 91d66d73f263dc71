import { classify, DEFAULT_RULES } from '../../src/modules/routing/classifier';
import type { TextMessage as ChatMessage } from '../../src/shared/tokenizer';

const msgs = (n: number, length = 10): ChatMessage[] =>
  Array.from({ length: n }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'x'.repeat(length) }));

describe('classifier (reference thresholds as defaults)', () => {
  it('short conversations are simple', () => {
    expect(classify({ messages: msgs(2, 500) })).toBe('SIMPLE');
  });
  it('a long message makes it moderate, many messages or long context complex', () => {
    expect(classify({ messages: msgs(2, 501) })).toBe('MODERATE');
    expect(classify({ messages: msgs(5) })).toBe('MODERATE');
    expect(classify({ messages: msgs(6) })).toBe('COMPLEX');
    expect(classify({ messages: msgs(3, 700) })).toBe('COMPLEX');
  });
  it('explicit flags win: requiresReasoning is always complex, a simple intent is simple', () => {
    expect(classify({ messages: msgs(1, 5), requiresReasoning: true })).toBe('COMPLEX');
    expect(classify({ messages: msgs(8), intent: 'classification' })).toBe('SIMPLE');
    expect(classify({ messages: msgs(8), intent: 'Extraction', requiresReasoning: true })).toBe('COMPLEX');
  });
  it('rules are configurable', () => {
    expect(classify({ messages: msgs(3) }, { ...DEFAULT_RULES, simpleMaxMessages: 3 })).toBe('SIMPLE');
  });
});

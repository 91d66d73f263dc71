import { callSpanName } from '../../src/shared/tracing';

describe('callSpanName', () => {
  it('names a call after its operation and model, as sent', () => {
    expect(callSpanName('chat', 'gpt-4.1')).toBe('chat gpt-4.1');
    expect(callSpanName('embeddings', 'text-embedding-3-small')).toBe('embeddings text-embedding-3-small');
  });

  it('reads an absent or odd model as auto, and cuts a long one (named before any check ran)', () => {
    expect(callSpanName('chat', undefined)).toBe('chat auto');
    expect(callSpanName('chat', { $ne: 1 })).toBe('chat auto');
    expect(callSpanName('chat', '')).toBe('chat auto');
    const name = callSpanName('chat', 'm'.repeat(5_000_000));
    expect(name).toBe(`chat ${'m'.repeat(200)}...`);
  });
});

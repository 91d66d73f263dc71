import { DEFAULT_RETRY, isRetryable, parseRetryAfter, retryDelay } from '../../src/modules/upstream/retry';
import {
  UpstreamHttpError,
  UpstreamNetworkError,
  UpstreamProtocolError,
} from '../../src/modules/upstream/upstream.types';

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-11-02T10:00:00Z');
  it('reads seconds, fractional seconds, an HTTP date and retry-after-ms', () => {
    expect(parseRetryAfter({ 'retry-after': '1' }, now)).toBe(1000);
    expect(parseRetryAfter({ 'retry-after': ' 2.5 ' }, now)).toBe(2500);
    expect(parseRetryAfter({ 'retry-after': 'Mon, 02 Nov 2026 10:00:07 GMT' }, now)).toBe(7000);
    expect(parseRetryAfter({ 'retry-after-ms': '350' }, now)).toBe(350);
    expect(parseRetryAfter({ 'retry-after': 'Monday, 02-Nov-26 10:00:03 GMT' }, now)).toBe(3000);
    expect(parseRetryAfter({ 'retry-after': 'Mon Nov  2 10:00:04 2026' }, now)).toBe(4000);
    expect(parseRetryAfter({ 'retry-after': ['2', '9'] }, now)).toBe(2000);
  });
  it('prefers retry-after-ms, clamps a past date to 0, ignores garbage and absence', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '120', 'retry-after': '5' }, now)).toBe(120);
    expect(parseRetryAfter({ 'retry-after': 'Mon, 02 Nov 2026 09:59:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': '-3' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': '2026-11-02' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after-ms': 'x', 'retry-after': '1' }, now)).toBe(1000);
    expect(parseRetryAfter({}, now)).toBeUndefined();
  });
});

describe('retry policy', () => {
  it('retries 429, 500, 502, 503, 504, timeouts and connection failures, nothing else', () => {
    for (const status of [429, 500, 502, 503, 504])
      expect(isRetryable(new UpstreamHttpError(status, undefined, ''))).toBe(true);
    for (const status of [400, 401, 403, 404, 422, 501])
      expect(isRetryable(new UpstreamHttpError(status, undefined, ''))).toBe(false);
    expect(isRetryable(new UpstreamNetworkError('timeout', ''))).toBe(true);
    expect(isRetryable(new UpstreamNetworkError('connection', 'ECONNRESET'))).toBe(true);
    expect(isRetryable(new UpstreamProtocolError('bad json'))).toBe(false);
    expect(isRetryable(new Error('other'))).toBe(false);
  });

  it('full jitter: uniform below min(max, base * 2^(n-1))', () => {
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    const error = new UpstreamHttpError(503, undefined, '');
    const top = () => 0.999999;
    expect(retryDelay(error, 1, policy, top)).toBe(99);
    expect(retryDelay(error, 2, policy, top)).toBe(199);
    expect(retryDelay(error, 4, policy, top)).toBe(799);
    expect(retryDelay(error, 5, policy, top)).toBe(999); // capped at maxDelayMs
    expect(retryDelay(error, 30, policy, top)).toBe(999);
    expect(retryDelay(error, 3, policy, () => 0)).toBe(0);
    expect(retryDelay(error, 3, policy, () => 0.5)).toBe(200);
  });

  it('honours Retry-After exactly up to the cap; longer ends the retries', () => {
    const policy = { ...DEFAULT_RETRY, maxRetryAfterMs: 5000 };
    expect(retryDelay(new UpstreamHttpError(429, 1000, ''), 1, policy, () => 0)).toBe(1000);
    expect(retryDelay(new UpstreamHttpError(503, 5000, ''), 2, policy, () => 0)).toBe(5000);
    expect(retryDelay(new UpstreamHttpError(429, 5001, ''), 1, policy)).toBeNull();
  });
});

import Anthropic from '@anthropic-ai/sdk';
import {
  codeForAnthropicError,
  readAnthropicError,
  toAnthropicErrorEvent,
  toAnthropicErrorReply,
} from '../../src/modules/anthropic/anthropic.errors';
import type { ErrorCode } from '../../src/shared/errors';

/** The error class the real SDK raises for a reply, as a client would see it. */
function sdkError(reply: ReturnType<typeof toAnthropicErrorReply>) {
  return Anthropic.APIError.generate(reply.status, reply.body, undefined, new Headers(reply.headers));
}

describe('our error codes -> Anthropic error replies', () => {
  it.each([
    ['BAD_USER_INPUT', 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['UNAUTHENTICATED', 401, 'authentication_error', Anthropic.AuthenticationError],
    ['BUDGET_EXCEEDED', 402, 'billing_error', Anthropic.PaymentRequiredError],
    ['FORBIDDEN', 403, 'permission_error', Anthropic.PermissionDeniedError],
    ['NOT_FOUND', 404, 'not_found_error', Anthropic.NotFoundError],
    ['IDEMPOTENCY_KEY_REUSED', 422, 'invalid_request_error', Anthropic.UnprocessableEntityError],
    ['RATE_LIMITED', 429, 'rate_limit_error', Anthropic.RateLimitError],
    ['INTERNAL_SERVER_ERROR', 500, 'api_error', Anthropic.InternalServerError],
    ['UPSTREAM_ERROR', 500, 'api_error', Anthropic.InternalServerError],
    ['SERVICE_UNAVAILABLE', 503, 'api_error', Anthropic.ServiceUnavailableError],
    ['UPSTREAM_UNAVAILABLE', 529, 'overloaded_error', Anthropic.OverloadedError],
  ] as const)('%s answers %i %s, which the SDK raises as its own class', (code, status, type, sdkClass) => {
    const reply = toAnthropicErrorReply(code as ErrorCode, 'something happened', {}, 'req_1');
    expect(reply.status).toBe(status);
    expect(reply.body).toMatchObject({ type: 'error', error: { type }, request_id: 'req_1' });
    expect(sdkError(reply)).toBeInstanceOf(sdkClass);
  });

  it('marks a budget refusal not retryable and carries its figures', () => {
    const reply = toAnthropicErrorReply('BUDGET_EXCEEDED', 'Monthly budget exhausted', {
      budgetLimit: '10',
      shortfall: '0.25',
    });
    expect(reply.headers['x-should-retry']).toBe('false');
    expect(reply.body.error).toEqual({
      type: 'billing_error',
      message: 'Monthly budget exhausted',
      tollgate: { budgetLimit: '10', shortfall: '0.25' },
    });
  });

  it('tells a rate-limited client when to come back, in seconds and milliseconds', () => {
    const reply = toAnthropicErrorReply('RATE_LIMITED', 'Slow down', { retryAfterMs: 2_500 });
    expect(reply.headers).toMatchObject({ 'retry-after': '3', 'retry-after-ms': '2500' });
  });

  it("passes an upstream's own verdict on the request with its status and type, not retryable", () => {
    const reply = toAnthropicErrorReply('UPSTREAM_ERROR', 'prompt is too long', {
      status: 413,
      upstreamType: 'request_too_large',
      provider: 'anthropic',
    });
    expect(reply.status).toBe(413);
    expect(reply.headers['x-should-retry']).toBe('false');
    expect(reply.body.error).toEqual({
      type: 'request_too_large',
      message: 'prompt is too long',
      tollgate: { provider: 'anthropic' },
    });
  });

  it('never shows an internal error message', () => {
    const reply = toAnthropicErrorReply('INTERNAL_SERVER_ERROR', 'relation "budgets" does not exist');
    expect(reply.body.error.message).toBe('Internal server error');
  });

  it('makes the error event a stream sends after its headers', () => {
    expect(toAnthropicErrorEvent('UPSTREAM_UNAVAILABLE', 'All upstreams failed')).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'All upstreams failed' },
    });
  });
});

describe('Anthropic upstream errors -> our codes', () => {
  it('reads the error body and classes only verdicts on the request as the client’s', () => {
    expect(
      readAnthropicError({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }),
    ).toEqual({
      type: 'overloaded_error',
      message: 'Overloaded',
    });
    expect(readAnthropicError('<html>bad gateway</html>')).toBeNull();
    expect(codeForAnthropicError('invalid_request_error')).toBe('UPSTREAM_ERROR');
    expect(codeForAnthropicError('not_found_error')).toBe('UPSTREAM_ERROR');
    for (const type of [
      'overloaded_error',
      'api_error',
      'rate_limit_error',
      'authentication_error',
      'billing_error',
    ]) {
      expect(codeForAnthropicError(type)).toBe('UPSTREAM_UNAVAILABLE');
    }
  });
});

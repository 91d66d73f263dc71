import type { Response } from 'express';
import { DomainError, type ErrorCode } from '../../shared/errors';

const STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  BUDGET_EXCEEDED: 402,
  RATE_LIMITED: 429,
  UPSTREAM_UNAVAILABLE: 503,
  UPSTREAM_ERROR: 502,
  INTERNAL_SERVER_ERROR: 500,
};

const TYPE: Record<ErrorCode, string> = {
  UNAUTHENTICATED: 'authentication_error',
  FORBIDDEN: 'permission_error',
  BAD_USER_INPUT: 'invalid_request_error',
  NOT_FOUND: 'not_found_error',
  BUDGET_EXCEEDED: 'budget_exceeded',
  RATE_LIMITED: 'rate_limit_error',
  UPSTREAM_UNAVAILABLE: 'upstream_unavailable',
  UPSTREAM_ERROR: 'upstream_error',
  INTERNAL_SERVER_ERROR: 'server_error',
};

const MAX_RETRY_AFTER_S = 60;

/**
 * Sends an error in OpenAI's shape ({"error": {message, type, code, param}}) with the status and
 * headers the official SDKs act on: 402 is marked not retryable, 429 says when to come back.
 */
export function sendOpenAiError(res: Response, error: unknown): void {
  const domain =
    error instanceof DomainError ? error : new DomainError('INTERNAL_SERVER_ERROR', 'Internal server error');
  const status = STATUS[domain.code];
  if (domain.code === 'BUDGET_EXCEEDED') res.setHeader('x-should-retry', 'false');
  if (domain.code === 'RATE_LIMITED') {
    const ms = Number(domain.details.retryAfterMs ?? 1000);
    res.setHeader('retry-after-ms', String(ms));
    res.setHeader('retry-after', String(Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(ms / 1000)))));
  }
  const code =
    domain.code === 'BUDGET_EXCEEDED'
      ? 'budget_exceeded'
      : domain.code === 'RATE_LIMITED'
        ? 'rate_limited'
        : domain.code.toLowerCase();
  const { field, ...details } = domain.details;
  res.status(status).json({
    error: {
      message: domain.message,
      type: TYPE[domain.code],
      code,
      param: typeof field === 'string' ? field : null,
      ...(Object.keys(details).length > 0 ? { tollgate: details } : {}),
    },
  });
}

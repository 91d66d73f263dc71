import type { Response } from 'express';
import type { DomainError, ErrorCode } from '../../shared/errors';

const STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  BUDGET_EXCEEDED: 402,
  RATE_LIMITED: 429,
  UPSTREAM_UNAVAILABLE: 503,
  UPSTREAM_ERROR: 502,
  IDEMPOTENCY_KEY_REUSED: 422,
  SERVICE_UNAVAILABLE: 503,
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
  IDEMPOTENCY_KEY_REUSED: 'idempotency_error',
  SERVICE_UNAVAILABLE: 'service_unavailable',
  INTERNAL_SERVER_ERROR: 'server_error',
};

const MAX_RETRY_AFTER_S = 60;

/** The upstream's own 4xx verdict on the request (400, 404, 422...), which the client must hear as such. */
function upstreamRefusal(error: DomainError): number | null {
  const status = error.details.status;
  if (error.code !== 'UPSTREAM_ERROR' || typeof status !== 'number') return null;
  return status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429 ? status : null;
}

/**
 * Sends an error in OpenAI's shape ({"error": {message, type, code, param}}) with the status and
 * headers the official SDKs act on: 402, 422 and an upstream's own 4xx are marked not retryable,
 * 429 says when to come back, 503 (database or upstream unavailable) is retried by the SDKs.
 */
export function sendOpenAiError(res: Response, error: DomainError, statusOverride?: number): void {
  const refusal = upstreamRefusal(error);
  const status = statusOverride ?? refusal ?? STATUS[error.code];
  if (error.code === 'BUDGET_EXCEEDED' || error.code === 'IDEMPOTENCY_KEY_REUSED' || refusal !== null) {
    res.setHeader('x-should-retry', 'false');
  }
  const retryAfterMs = error.details.retryAfterMs;
  if (typeof retryAfterMs === 'number') {
    res.setHeader('retry-after-ms', String(retryAfterMs));
    res.setHeader(
      'retry-after',
      String(Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(retryAfterMs / 1000)))),
    );
  }
  const code =
    error.code === 'BUDGET_EXCEEDED'
      ? 'budget_exceeded'
      : error.code === 'RATE_LIMITED'
        ? 'rate_limited'
        : refusal !== null && typeof error.details.upstreamCode === 'string'
          ? error.details.upstreamCode
          : error.code.toLowerCase();
  const type =
    refusal !== null && typeof error.details.upstreamType === 'string'
      ? error.details.upstreamType
      : TYPE[error.code];
  const { field, upstreamType: _type, upstreamCode: _code, ...details } = error.details;
  res.status(status).json({
    error: {
      message: error.message,
      type,
      code,
      param: typeof field === 'string' ? field : null,
      ...(Object.keys(details).length > 0 ? { tollgate: details } : {}),
    },
  });
}

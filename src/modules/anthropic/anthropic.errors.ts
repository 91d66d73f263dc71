import { DomainError, type ErrorCode, type ErrorDetails } from '../../shared/errors';
import type { AnthropicErrorBody, AnthropicErrorType, AnthropicEvent } from './anthropic.types';
import { isObject } from './wire-read';

/**
 * Our error codes in Anthropic's shape, and Anthropic's errors in our codes. Plain data and
 * functions: the door writes `{ status, headers, body }` with whatever HTTP framework it uses.
 */

const REPLIES: Record<ErrorCode, { status: number; type: AnthropicErrorType }> = {
  BAD_USER_INPUT: { status: 400, type: 'invalid_request_error' },
  UNAUTHENTICATED: { status: 401, type: 'authentication_error' },
  BUDGET_EXCEEDED: { status: 402, type: 'billing_error' },
  FORBIDDEN: { status: 403, type: 'permission_error' },
  NOT_FOUND: { status: 404, type: 'not_found_error' },
  // Not in the brief's list: a 500 would make the SDK retry a request that can never succeed.
  IDEMPOTENCY_KEY_REUSED: { status: 422, type: 'invalid_request_error' },
  RATE_LIMITED: { status: 429, type: 'rate_limit_error' },
  INTERNAL_SERVER_ERROR: { status: 500, type: 'api_error' },
  UPSTREAM_ERROR: { status: 500, type: 'api_error' },
  // Our database is down: retryable, and 503 is what the SDK and proxies read as "come back".
  SERVICE_UNAVAILABLE: { status: 503, type: 'api_error' },
  // Every upstream failed or is open-circuited: Anthropic's "overloaded", which the SDK retries.
  UPSTREAM_UNAVAILABLE: { status: 529, type: 'overloaded_error' },
};

/** Anthropic's type for an upstream's own 4xx verdict we pass on. */
const TYPE_BY_STATUS: Record<number, AnthropicErrorType> = {
  400: 'invalid_request_error',
  404: 'not_found_error',
  413: 'request_too_large',
};

const MAX_RETRY_AFTER_S = 60;

export interface AnthropicErrorReply {
  status: number;
  headers: Record<string, string>;
  body: AnthropicErrorBody;
}

/** The upstream judged the request itself (400, 404, 413, 422...): the client must hear that status. */
function upstreamVerdict(code: ErrorCode, details: ErrorDetails): number | null {
  const status = details.status;
  if (code !== 'UPSTREAM_ERROR' || typeof status !== 'number') return null;
  return status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429 ? status : null;
}

/**
 * A domain error as Anthropic's error reply. 402 and every verdict on the request carry
 * `x-should-retry: false`, which the Anthropic SDK obeys before its own status rules (it would
 * otherwise retry a 402 budget refusal as a 4xx it does not know); 429, 529 and 503 say when to
 * come back. INTERNAL_SERVER_ERROR's message is replaced, so no internal detail can leak here.
 */
export function toAnthropicErrorReply(
  code: ErrorCode,
  message: string,
  details: ErrorDetails = {},
  requestId: string | null = null,
): AnthropicErrorReply {
  const verdict = upstreamVerdict(code, details);
  const status = verdict ?? REPLIES[code].status;
  const said = details.upstreamType;
  const type =
    verdict === null
      ? REPLIES[code].type
      : typeof said === 'string' && isAnthropicErrorType(said)
        ? said
        : (TYPE_BY_STATUS[verdict] ?? 'invalid_request_error');

  const headers: Record<string, string> = {};
  if (code === 'BUDGET_EXCEEDED' || code === 'IDEMPOTENCY_KEY_REUSED' || verdict !== null) {
    headers['x-should-retry'] = 'false';
  }
  const retryAfterMs = details.retryAfterMs;
  if (typeof retryAfterMs === 'number') {
    headers['retry-after-ms'] = String(retryAfterMs);
    headers['retry-after'] = String(Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(retryAfterMs / 1000))));
  }
  if (requestId !== null) headers['request-id'] = requestId;

  const { upstreamType: _type, upstreamCode: _code, status: _status, ...figures } = details;
  return {
    status,
    headers,
    body: {
      type: 'error',
      error: {
        type,
        message: code === 'INTERNAL_SERVER_ERROR' ? 'Internal server error' : message,
        ...(Object.keys(figures).length > 0 ? { tollgate: figures } : {}),
      },
      request_id: requestId,
    },
  };
}

/** The `error` event a door sends when a stream fails after its headers went out. */
export function toAnthropicErrorEvent(
  code: ErrorCode,
  message: string,
  details: ErrorDetails = {},
): AnthropicEvent {
  const { body } = toAnthropicErrorReply(code, message, details);
  return { type: 'error', error: { type: body.error.type, message: body.error.message } };
}

const ERROR_TYPES: readonly string[] = [
  'invalid_request_error',
  'authentication_error',
  'billing_error',
  'permission_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'timeout_error',
  'api_error',
  'overloaded_error',
] satisfies AnthropicErrorType[];

function isAnthropicErrorType(type: string): type is AnthropicErrorType {
  return ERROR_TYPES.includes(type);
}

/** `{"type":"error","error":{"type","message"}}` read from an upstream body, or null if it is not one. */
export function readAnthropicError(body: unknown): { type: string; message: string } | null {
  if (!isObject(body) || !isObject(body.error)) return null;
  const { type, message } = body.error;
  if (typeof type !== 'string') return null;
  return { type, message: typeof message === 'string' ? message : '' };
}

/**
 * What an Anthropic upstream's error means for the gateway. Everything about our own account at
 * Anthropic (its key, its credit, its rate limit) or Anthropic's health is UPSTREAM_UNAVAILABLE:
 * retried, rotated or routed around, never shown to the client as its own 401 or 402. Only a
 * verdict on the request itself is the client's to hear (UPSTREAM_ERROR).
 */
export function codeForAnthropicError(type: string): 'UPSTREAM_UNAVAILABLE' | 'UPSTREAM_ERROR' {
  switch (type) {
    case 'invalid_request_error':
    case 'not_found_error':
    case 'request_too_large':
      return 'UPSTREAM_ERROR';
    default:
      return 'UPSTREAM_UNAVAILABLE';
  }
}

/** An `error` event inside an Anthropic stream (overloaded mid-answer, say), as a domain error. */
export class AnthropicStreamError extends DomainError {
  constructor(
    readonly upstreamType: string,
    message: string,
  ) {
    super(codeForAnthropicError(upstreamType), `Anthropic stream failed (${upstreamType}): ${message}`, {
      upstreamType,
    });
  }
}

/**
 * Domain errors. Every feature throws one of these with a code; the GraphQL edge maps the
 * code to `extensions.code` once (server/format-error.ts) and hides everything else.
 */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'BUDGET_EXCEEDED'
  | 'RATE_LIMITED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_ERROR'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

export type ErrorDetails = Record<string, string | number | boolean | null | string[]>;

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class UnauthenticatedError extends DomainError {
  constructor(message = 'A valid API key is required (Authorization: Bearer tg_...)') {
    super('UNAUTHENTICATED', message);
  }
}

export class ForbiddenError extends DomainError {
  constructor(message = 'This key is not allowed to do that') {
    super('FORBIDDEN', message);
  }
}

export class BadInputError extends DomainError {
  constructor(message: string, field?: string) {
    super('BAD_USER_INPUT', message, field ? { field } : {});
  }
}

export class NotFoundError extends DomainError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
  }
}

export class UpstreamUnavailableError extends DomainError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('UPSTREAM_UNAVAILABLE', message, details);
  }
}

export class UpstreamError extends DomainError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('UPSTREAM_ERROR', message, details);
  }
}

export class RateLimitedError extends DomainError {
  constructor(message: string, retryAfterMs: number, details: ErrorDetails = {}) {
    super('RATE_LIMITED', message, { ...details, retryAfterMs: Math.max(0, Math.ceil(retryAfterMs)) });
  }
}

/** The same idempotency key came back with a different request: refused, never served as the first one. */
export class IdempotencyKeyReusedError extends DomainError {
  constructor(message = 'This requestId (Idempotency-Key) was used with a different request body') {
    super('IDEMPOTENCY_KEY_REUSED', message);
  }
}

/** The database (or another part Tollgate needs) is unreachable: retry shortly. */
export class ServiceUnavailableError extends DomainError {
  constructor(
    message = 'The service is temporarily unavailable (its database did not answer); retry shortly',
  ) {
    super('SERVICE_UNAVAILABLE', message, { retryAfterMs: 1000 });
  }
}

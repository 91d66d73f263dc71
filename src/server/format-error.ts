import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { GraphQLError } from 'graphql';
import { QueryFailedError } from 'typeorm';
import { isConnectionFailure } from '../shared/db-errors';
import { DomainError, type ErrorCode } from '../shared/errors';
import { unavailable } from '../shared/public-error';
import type { Logger } from '../shared/logger';

/** Codes a client may see; anything else becomes INTERNAL_SERVER_ERROR. */
const PUBLIC_CODES = new Set<string>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'BUDGET_EXCEEDED',
  'RATE_LIMITED',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_ERROR',
  'IDEMPOTENCY_KEY_REUSED',
  'SERVICE_UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
] satisfies (ErrorCode | string)[]);

/**
 * Invalid text for a typed column (a malformed UUID id, say) is the caller's mistake, not ours;
 * so is text Postgres cannot store (a NUL character: 22021 in text columns, 22P05 in jsonb).
 */
const PG_BAD_INPUT = new Set(['22P02', '22007', '22008', '22003', '22021', '22P05']);

/**
 * The one place errors leave the server: domain errors keep their code and figures, GraphQL's
 * own request errors pass, and everything else is logged and replaced by a bare
 * INTERNAL_SERVER_ERROR, so no stack, SQL or secret ever reaches a client. `logOf` gives the
 * logger of the request the error belongs to (its lines carry the request's id).
 */
export function createFormatError(logOf: (error: unknown) => Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const log = logOf(error);
    const unwrapped = innerError(error);
    const original = isConnectionFailure(unwrapped) ? unavailable(log, unwrapped) : unwrapped;
    if (original instanceof DomainError) {
      return {
        message: original.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { ...original.details, code: original.code },
      };
    }
    if (original instanceof QueryFailedError && PG_BAD_INPUT.has(pgCode(original))) {
      return {
        message: 'An argument has an invalid format (for example an id that is not a UUID)',
        path: formatted.path,
        extensions: { code: 'BAD_USER_INPUT' },
      };
    }
    const code = typeof formatted.extensions?.code === 'string' ? formatted.extensions.code : undefined;
    const fromGraphql = original instanceof GraphQLError && original.originalError === undefined;
    if (
      code &&
      PUBLIC_CODES.has(code) &&
      (fromGraphql || !(original instanceof Error) || code !== 'INTERNAL_SERVER_ERROR')
    ) {
      return {
        message: formatted.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code },
      };
    }
    log.error({ err: original, path: formatted.path }, 'internal error');
    return {
      message: 'Internal server error',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

function pgCode(error: QueryFailedError): string {
  const driver = (error as QueryFailedError & { driverError?: { code?: string } }).driverError;
  return driver?.code ?? '';
}

/**
 * The error a resolver (or a subscription's source) threw, inside the GraphQLError that carries it.
 * Apollo's unwrap needs a path; graphql-ws wraps an error thrown while streaming without one.
 */
function innerError(error: unknown): unknown {
  const inner = unwrapResolverError(error);
  if (inner !== error) return inner;
  const original = error instanceof GraphQLError ? error.originalError : undefined;
  return original instanceof DomainError || isConnectionFailure(original) ? original : error;
}

import { isConnectionFailure } from './db-errors';
import { DomainError, ServiceUnavailableError } from './errors';
import type { Logger } from './logger';

/** A lost database is the operator's to hear about, and the client's to retry. */
export function unavailable(log: Logger, error: unknown): ServiceUnavailableError {
  log.error({ err: error }, 'database unavailable');
  return new ServiceUnavailableError();
}

/**
 * The same mapping for errors outside GraphQL execution (the REST doors): a domain error as it
 * is, a lost database as SERVICE_UNAVAILABLE, anything else logged and turned into a bare
 * INTERNAL_SERVER_ERROR.
 */
export function publicError(log: Logger, error: unknown): DomainError {
  if (error instanceof DomainError) return error;
  if (isConnectionFailure(error)) return unavailable(log, error);
  log.error({ err: error }, 'internal error');
  return new DomainError('INTERNAL_SERVER_ERROR', 'Internal server error');
}

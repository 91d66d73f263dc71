import { DomainError } from '../../shared/errors';

/**
 * A body that cannot be carried to the other wire without losing something. Requests are the
 * client's to fix (BAD_USER_INPUT, a 400 naming `field`); an upstream answer we cannot express
 * is the upstream's fault (UPSTREAM_ERROR). It is a DomainError so both doors' error mappers
 * answer it in their own shape with no special case.
 */
export class TranslationError extends DomainError {
  constructor(
    readonly field: string,
    message: string,
    code: 'BAD_USER_INPUT' | 'UPSTREAM_ERROR' = 'BAD_USER_INPUT',
  ) {
    super(code, message, { field });
  }
}

/** Reports a hint (it changes cost or latency, never the answer) that the target wire cannot hold. */
export type DroppedHintListener = (field: string, reason: string) => void;

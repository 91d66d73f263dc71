import { DomainError } from './errors';

/**
 * Who makes a change: the API (no owner), or a configuration file (`owner`: the file's id, which
 * its objects carry in `managedBy`). Only the owner changes what it owns, so the file and the
 * database cannot drift apart.
 */
export interface ChangeOptions {
  owner?: string;
}

/** An API change to an object a configuration file owns: FORBIDDEN, naming the file. */
export class ManagedByFileError extends DomainError {
  constructor(what: string, managedBy: string) {
    super(
      'FORBIDDEN',
      `${what} is managed by the configuration file ${managedBy}: change it there, not through the API`,
      { managedBy },
    );
  }
}

/** Throws unless `options` comes from the object's owner (the API for an object no file owns). */
export function assertOwner(what: string, managedBy: string | null, options: ChangeOptions = {}): void {
  if (managedBy !== null && managedBy !== options.owner) throw new ManagedByFileError(what, managedBy);
}

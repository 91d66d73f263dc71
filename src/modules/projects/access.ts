import { createParameterDecorator, type AuthChecker } from 'type-graphql';
import { ForbiddenError, UnauthenticatedError } from '../../shared/errors';
import type { Caller, KeyPrincipal, Principal } from './auth.service';
import type { Context } from './request-context';

/**
 * Who may use a field, named once on it with `@Authorized(Role.X)`: OPERATOR the operator key,
 * ADMIN an ADMIN key of a project, PROJECT any key of a project, ANYONE any authenticated caller.
 * The operator key makes no calls and reads no project.
 */
export const Role = { OPERATOR: 'OPERATOR', ADMIN: 'ADMIN', PROJECT: 'PROJECT', ANYONE: 'ANYONE' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export function requireAuth(caller: Caller): Principal {
  if (!caller.principal) throw caller.authFailure ?? new UnauthenticatedError();
  return caller.principal;
}

export function requireProjectKey(caller: Caller): KeyPrincipal {
  const who = requireAuth(caller);
  if (who.kind !== 'key') throw new ForbiddenError('Use a project key for this');
  return who;
}

/** Each role's check: throws UNAUTHENTICATED or FORBIDDEN with the reason, as the caller will read it. */
const ADMITS: Record<Role, (caller: Caller) => void> = {
  ANYONE: (caller) => void requireAuth(caller),
  PROJECT: (caller) => void requireProjectKey(caller),
  ADMIN: (caller) => {
    if (requireProjectKey(caller).role !== 'ADMIN')
      throw new ForbiddenError('This needs an ADMIN key of the project');
  },
  OPERATOR: (caller) => {
    if (requireAuth(caller).kind !== 'operator')
      throw new ForbiddenError('Only the operator key can do that');
  },
};

/**
 * type-graphql's check for `@Authorized`. It throws our own errors instead of answering false, so
 * a refused caller reads the same code and reason on every door. A field names one role (with
 * several, each must admit the caller; none named: ANYONE).
 */
export const authChecker: AuthChecker<Context, Role> = ({ context }, roles) => {
  for (const role of roles.length > 0 ? roles : [Role.ANYONE]) ADMITS[role](context);
  return true;
};

/** The calling project key, for a field that its `@Authorized` role already limits to project keys. */
export function CurrentKey() {
  return createParameterDecorator<Context>(({ context }) => requireProjectKey(context));
}

/** The authenticated caller (the operator or a project key). */
export function CurrentPrincipal() {
  return createParameterDecorator<Context>(({ context }) => requireAuth(context));
}

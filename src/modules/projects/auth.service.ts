import crypto from 'node:crypto';
import type { DataSource } from 'typeorm';
import { ForbiddenError, UnauthenticatedError } from '../../shared/errors';
import { ApiKey, type ApiKeyRole } from './api-key.entity';

/** Who is calling: the server operator, or a key of one project. */
export type Principal =
  | { kind: 'operator' }
  | {
      kind: 'key';
      keyId: string;
      projectId: string;
      role: ApiKeyRole;
      name: string;
      rpmLimit: number | null;
      tpmLimit: number | null;
    };
export type KeyPrincipal = Extract<Principal, { kind: 'key' }>;

const KEY_PATTERN = /^tg_[A-Za-z0-9_-]{20,100}$/;
const CACHE_TTL_MS = 5_000;
const NEGATIVE_TTL_MS = 1_000;

export function hashKey(plaintext: string): string {
  // One-shot hashing: about a third of the cost of createHash().update().digest(), on every call.
  return crypto.hash('sha256', plaintext, 'hex');
}

export function generateKey(): { plaintext: string; prefix: string; hash: string } {
  const plaintext = `tg_${crypto.randomBytes(24).toString('base64url')}`;
  return { plaintext, prefix: plaintext.slice(0, 9), hash: hashKey(plaintext) };
}

/**
 * Resolves a bearer token to a principal. Lookups are by hash and cached for a few seconds
 * (a revoke on this instance evicts at once; other instances see it within the TTL).
 */
export class AuthService {
  private readonly cache = new Map<string, { principal: KeyPrincipal | null; expires: number }>();
  private readonly operatorHash: Buffer | undefined;

  constructor(
    private readonly db: DataSource,
    operatorKey: string | undefined,
  ) {
    this.operatorHash = operatorKey ? Buffer.from(hashKey(operatorKey), 'hex') : undefined;
  }

  /** Parses an `Authorization` header value; throws UNAUTHENTICATED when absent or wrong. */
  async authenticateHeader(header: string | undefined): Promise<Principal> {
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new UnauthenticatedError();
    return this.authenticate(match[1]);
  }

  async authenticate(token: string): Promise<Principal> {
    const hash = hashKey(token);
    if (this.operatorHash && crypto.timingSafeEqual(Buffer.from(hash, 'hex'), this.operatorHash)) {
      return { kind: 'operator' };
    }
    if (!KEY_PATTERN.test(token)) throw new UnauthenticatedError('Malformed API key');
    const now = Date.now();
    const cached = this.cache.get(hash);
    let principal: KeyPrincipal | null;
    if (cached && cached.expires > now) {
      principal = cached.principal;
    } else {
      principal = await this.lookup(hash);
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, { principal, expires: now + (principal ? CACHE_TTL_MS : NEGATIVE_TTL_MS) });
    }
    if (!principal) throw new UnauthenticatedError('Unknown or revoked API key');
    return principal;
  }

  /** Drops every cached entry of a key (after a revoke). */
  evict(keyId: string): void {
    for (const [hash, entry] of this.cache) {
      if (entry.principal?.keyId === keyId) this.cache.delete(hash);
    }
  }

  private async lookup(hash: string): Promise<KeyPrincipal | null> {
    const key = await this.db.getRepository(ApiKey).findOne({ where: { keyHash: hash } });
    if (!key || key.revokedAt) return null;
    return {
      kind: 'key',
      keyId: key.id,
      projectId: key.projectId,
      role: key.role,
      name: key.name,
      rpmLimit: key.rpmLimit,
      tpmLimit: key.tpmLimit,
    };
  }
}

/** What a request carries about its caller: a principal, or why there is none. */
export interface Caller {
  principal?: Principal;
  authFailure?: UnauthenticatedError;
}

/** Access rules, used by every resolver. */
export function requireAuth(caller: Caller): Principal {
  if (!caller.principal) throw caller.authFailure ?? new UnauthenticatedError();
  return caller.principal;
}

export function requireOperator(caller: Caller): void {
  if (requireAuth(caller).kind !== 'operator') throw new ForbiddenError('Only the operator key can do that');
}

/** A project key of any role (or ADMIN when `admin`); the operator key makes no calls and reads no project. */
export function requireProjectKey(caller: Caller, admin = false): KeyPrincipal {
  const p = requireAuth(caller);
  if (p.kind !== 'key') throw new ForbiddenError('Use a project key for this');
  if (admin && p.role !== 'ADMIN') throw new ForbiddenError('This needs an ADMIN key of the project');
  return p;
}

import crypto from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import { BadInputError, UnauthenticatedError } from '../../shared/errors';
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
/** How long a key's verdict is reused: a revoke on another instance is seen within this. */
const CACHE_TTL_MS = 1_000;
/** Keys remembered at once; the least recently used go first, so a flood of bad keys cannot push out live ones. */
const CACHE_MAX = 50_000;

export function hashKey(plaintext: string): string {
  // One-shot hashing: about a third of the cost of createHash().update().digest(), on every call.
  return crypto.hash('sha256', plaintext, 'hex');
}

export function generateKey(): { plaintext: string; prefix: string; hash: string } {
  const plaintext = `tg_${crypto.randomBytes(24).toString('base64url')}`;
  return { plaintext, prefix: plaintext.slice(0, 9), hash: hashKey(plaintext) };
}

/** A key whose text is given (a configuration file's, read from the environment) instead of generated. */
export function givenKey(plaintext: string): { plaintext: string; prefix: string; hash: string } {
  if (!KEY_PATTERN.test(plaintext)) {
    throw new BadInputError('a key must be tg_ followed by 20 to 100 letters, digits, _ or -', 'secret');
  }
  return { plaintext, prefix: plaintext.slice(0, 9), hash: hashKey(plaintext) };
}

/**
 * Resolves a bearer token to a principal. Lookups are by hash and cached for a second (a revoke
 * evicts at once on every instance that hears it, and any instance sees it within the TTL).
 */
export class AuthService {
  private readonly cache = new LRUCache<string, { principal: KeyPrincipal | null }>({
    max: CACHE_MAX,
    ttl: CACHE_TTL_MS,
    ttlAutopurge: false,
  });
  private readonly operatorHash: Buffer | undefined;

  constructor(
    private readonly db: DataSource,
    operatorKey: string | undefined,
  ) {
    this.operatorHash = operatorKey ? Buffer.from(hashKey(operatorKey), 'hex') : undefined;
  }

  /** Parses an `Authorization` header value; throws UNAUTHENTICATED when absent or wrong. */
  async authenticateHeader(header: string | undefined): Promise<Principal> {
    const token = header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (!token) throw new UnauthenticatedError();
    return this.authenticate(token);
  }

  async authenticate(token: string): Promise<Principal> {
    const hash = hashKey(token);
    if (this.operatorHash && crypto.timingSafeEqual(Buffer.from(hash, 'hex'), this.operatorHash)) {
      return { kind: 'operator' };
    }
    if (!KEY_PATTERN.test(token)) throw new UnauthenticatedError('Malformed API key');
    let principal = this.cache.get(hash)?.principal;
    if (principal === undefined) {
      principal = await this.lookup(hash);
      this.cache.set(hash, { principal });
    }
    if (!principal) throw new UnauthenticatedError('Unknown or revoked API key');
    return principal;
  }

  /** Drops every cached entry of a key (after a revoke, here or on another instance). */
  evict(keyId: string): void {
    for (const [hash, entry] of this.cache.entries()) {
      if (entry.principal?.keyId === keyId) this.cache.delete(hash);
    }
  }

  /** Which of these keys have been revoked (one query, however many). */
  async revokedAmong(keyIds: string[]): Promise<string[]> {
    if (keyIds.length === 0) return [];
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NOT NULL`,
      [keyIds],
    );
    return rows.map((r) => r.id);
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

/** What a request carries about its caller: a principal, or why there is none (access.ts reads it). */
export interface Caller {
  principal?: Principal;
  authFailure?: UnauthenticatedError;
}

import { RateLimitedError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { MemoryRateStore, type BucketSpec, type RateStore } from './rate.store';

/** Server-wide defaults for every project (null: no limit). */
export interface ProjectLimits {
  rpm: number | null;
  tpm: number | null;
}

/** Who is calling, with its key's limits (from the cached principal: no database read). */
export interface LimitedCaller {
  keyId: string;
  projectId: string;
  rpmLimit: number | null;
  tpmLimit: number | null;
}

type LimitName = 'KEY_RPM' | 'KEY_TPM' | 'PROJECT_RPM' | 'PROJECT_TPM';

interface Limit extends BucketSpec {
  name: LimitName;
}

/** An admitted call; `refundUnusedTokens` gives back the tokens it was charged and did not use. */
export interface Admission {
  refundUnusedTokens(actualTokens: number): void;
}

const ADMIT_ALL: Admission = { refundUnusedTokens: () => undefined };

const DESCRIBE: Record<LimitName, string> = {
  KEY_RPM: "this API key's requests per minute",
  KEY_TPM: "this API key's tokens per minute",
  PROJECT_RPM: "the project's requests per minute",
  PROJECT_TPM: "the project's tokens per minute",
};

/**
 * Requests- and tokens-per-minute limits of gateway keys and projects, checked before anything
 * is reserved. A call is charged its worst case (prompt estimate plus maxTokens, capped at the
 * limit) up front, all buckets or none in one step (one Redis round trip when shared), and the
 * unused tokens are given back after it settles, off the response path.
 */
export class GatewayLimiter {
  private warnedAt = 0;

  constructor(
    private readonly store: RateStore,
    private readonly project: ProjectLimits,
    private readonly log: Logger,
    /** Used when the shared store fails: limits then hold per instance until it is back. */
    private readonly local: RateStore = new MemoryRateStore(),
  ) {}

  get distributed(): boolean {
    return this.store.distributed;
  }

  async admit(who: LimitedCaller, tokens: number): Promise<Admission> {
    const limits = this.limitsOf(who, tokens);
    if (limits.length === 0) return ADMIT_ALL;
    const result = await this.guarded((store) => store.take(limits));
    if (!result.ok) {
      const limit = limits[result.index]!; // the store names one of the limits it was given
      throw new RateLimitedError(
        `Rate limit reached: ${DESCRIBE[limit.name]} (${limit.perMinute}); retry in ${result.retryAfterMs} ms`,
        result.retryAfterMs,
        { limit: limit.name, limitValue: limit.perMinute },
      );
    }
    const charged = limits.filter((l) => l.name.endsWith('TPM'));
    if (charged.length === 0) return ADMIT_ALL;
    return {
      refundUnusedTokens: (actualTokens) => {
        for (const limit of charged) {
          const unused = limit.cost - Math.min(limit.cost, Math.max(0, actualTokens));
          if (unused > 0) {
            this.guarded((store) => store.give({ ...limit, cost: unused })).catch(() => undefined);
          }
        }
      },
    };
  }

  /** Tokens left in each bucket of a key (for limiterStats). */
  peekKey(who: LimitedCaller): Promise<{ requests: number | null; tokens: number | null }> {
    return this.peek(this.limitsOf(who, 0), 'KEY_RPM', 'KEY_TPM');
  }

  /** Tokens left in the project's buckets (for limiterStats). */
  peekProject(projectId: string): Promise<{ requests: number | null; tokens: number | null }> {
    const project = this.limitsOf({ keyId: '', projectId, rpmLimit: null, tpmLimit: null }, 0);
    return this.peek(project, 'PROJECT_RPM', 'PROJECT_TPM');
  }

  /** What is left in the RPM and TPM buckets named (null where that limit is off). */
  private async peek(
    limits: Limit[],
    rpm: LimitName,
    tpm: LimitName,
  ): Promise<{ requests: number | null; tokens: number | null }> {
    const specs = limits.filter((l) => l.name === rpm || l.name === tpm);
    const levels = await this.guarded((store) => store.peek(specs));
    const of = (name: LimitName) => {
      const level = levels[specs.findIndex((s) => s.name === name)];
      return level === undefined ? null : Math.max(0, Math.floor(level));
    };
    return { requests: of(rpm), tokens: of(tpm) };
  }

  get projectLimits(): ProjectLimits {
    return this.project;
  }

  private limitsOf(who: LimitedCaller, tokens: number): Limit[] {
    const limits: Limit[] = [];
    const add = (name: LimitName, key: string, perMinute: number | null, cost: number) => {
      if (perMinute !== null && perMinute > 0) {
        limits.push({ name, key, perMinute, cost: Math.min(cost, perMinute) });
      }
    };
    add('KEY_RPM', `key:${who.keyId}:rpm`, who.rpmLimit, 1);
    add('KEY_TPM', `key:${who.keyId}:tpm`, who.tpmLimit, tokens);
    add('PROJECT_RPM', `project:${who.projectId}:rpm`, this.project.rpm, 1);
    add('PROJECT_TPM', `project:${who.projectId}:tpm`, this.project.tpm, tokens);
    return limits;
  }

  /** Runs on the shared store; if it fails, on this instance's own buckets (fail open to per-instance, logged). */
  private async guarded<T>(fn: (store: RateStore) => Promise<T>): Promise<T> {
    if (this.store === this.local) return fn(this.store);
    try {
      return await fn(this.store);
    } catch (error) {
      const now = Date.now();
      if (now - this.warnedAt > 10_000) {
        this.warnedAt = now;
        this.log.warn({ err: error }, 'shared rate-limit store failed; limiting per instance meanwhile');
      }
      return fn(this.local);
    }
  }
}

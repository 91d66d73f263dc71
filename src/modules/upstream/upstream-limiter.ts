import { RateLimitedError } from '../../shared/errors';
import { CatalogService } from '../providers/catalog.service';
import type { Provider } from '../providers/provider.entity';
import { sleep } from './simulated.transport';
import { Semaphore, SlotUnavailableError } from './semaphore';
import { TokenBucket } from '../../shared/token-bucket';

export interface UpstreamLimitPolicy {
  /** Callers that may wait for a slot of one upstream key; the next one is refused at once. */
  queueMax: number;
  /** The longest a caller waits for a slot and an RPM token together. */
  queueTimeoutMs: number;
  /** How long a refused (401/403) upstream key is left out before it is tried again. */
  keyCooldownMs: number;
}

/** What a caller refused by a busy upstream is told to wait: a hint, since slots free up unpredictably. */
const QUEUE_RETRY_HINT_MS = 1_000;

export const DEFAULT_UPSTREAM_LIMITS: UpstreamLimitPolicy = {
  queueMax: 500,
  queueTimeoutMs: 30_000,
  keyCooldownMs: 60_000,
};

interface KeySlot {
  /** Position in the provider's key list, 0-based. */
  index: number;
  /** Where the key comes from ("env:NAME", "sealed #2", "simulated"); never the key. */
  source: string;
  semaphore: Semaphore;
  bucket: TokenBucket;
  /** Epoch ms until which the key is left out after a refusal; 0 when healthy. */
  failedUntil: number;
}

interface ProviderSlots {
  version: number;
  keys: KeySlot[];
  cursor: number;
}

export interface UpstreamKeyView {
  providerId: string;
  provider: string;
  index: number;
  source: string;
  active: number;
  queued: number;
  maxConcurrency: number;
  requestsPerMinute: number;
  availableTokens: number;
  /** Busy share of the concurrency cap (queued callers push it past 1). */
  utilization: number;
  failed: boolean;
  failedUntil: Date | null;
}

/**
 * Per upstream key: a token bucket of the provider's requests per minute and a concurrency cap
 * with a bounded wait queue; plus which keys were refused and until when. In memory: each
 * instance guards its own share of the upstream (run N instances with 1/N of the limits).
 */
export class UpstreamLimiter {
  private readonly providers = new Map<string, ProviderSlots>();

  constructor(private readonly policy: UpstreamLimitPolicy = DEFAULT_UPSTREAM_LIMITS) {}

  /** How many key slots a provider has (the simulated provider has one, keyless). */
  static keyCount(provider: Provider): number {
    return provider.kind === 'SIMULATED' ? 1 : provider.upstreamKeys.length;
  }

  /** Keys that may be used now: not refused, or their cooldown is over. */
  usableKeys(provider: Provider, now = Date.now()): number[] {
    return this.slots(provider)
      .keys.filter((k) => k.failedUntil <= now)
      .map((k) => k.index);
  }

  /** True when the provider has keys and every one of them is in its cooldown. */
  allKeysFailed(provider: Provider, now = Date.now()): boolean {
    const keys = this.slots(provider).keys;
    return keys.length > 0 && keys.every((k) => k.failedUntil > now);
  }

  /** True when some usable key has a free slot and an RPM token right now. */
  hasCapacity(provider: Provider, now = Date.now()): boolean {
    return this.slots(provider).keys.some((k) => k.failedUntil <= now && this.free(k, now));
  }

  /**
   * The key for the next request: round robin over usable keys not yet tried by this call,
   * taking the first with capacity now, else the first in turn. Null when none is left.
   */
  pickKey(provider: Provider, exclude: ReadonlySet<number>, now = Date.now()): number | null {
    const slots = this.slots(provider);
    const n = slots.keys.length;
    let fallback: KeySlot | null = null;
    for (let i = 0; i < n; i++) {
      const key = slots.keys[(slots.cursor + i) % n]!;
      if (exclude.has(key.index) || key.failedUntil > now) continue;
      fallback ??= key;
      if (this.free(key, now)) {
        slots.cursor = (key.index + 1) % n;
        return key.index;
      }
    }
    if (fallback) slots.cursor = (fallback.index + 1) % n;
    return fallback?.index ?? null;
  }

  /**
   * Waits for a concurrency slot and an RPM token of one key, together within the queue
   * timeout; resolves to the slot's release. A full queue, a timeout, or an RPM wait longer
   * than the time left is RATE_LIMITED.
   */
  async acquire(provider: Provider, keyIndex: number, signal?: AbortSignal): Promise<() => void> {
    const key = this.key(provider, keyIndex);
    const deadline = Date.now() + this.policy.queueTimeoutMs;
    let release: () => void;
    try {
      release = await key.semaphore.acquire(this.policy.queueTimeoutMs, signal);
    } catch (error) {
      if (!(error instanceof SlotUnavailableError)) throw error;
      throw new RateLimitedError(
        error.reason === 'queue-full'
          ? `Upstream "${provider.name}" is at its concurrency limit and its queue is full`
          : `Upstream "${provider.name}" is at its concurrency limit; no slot freed within ${this.policy.queueTimeoutMs} ms`,
        QUEUE_RETRY_HINT_MS,
        { provider: provider.name, limit: 'UPSTREAM_CONCURRENCY' },
      );
    }
    const now = Date.now();
    const wait = key.bucket.reserve(1, now);
    if (wait === 0) return release;
    if (now + wait > deadline) {
      key.bucket.give(1, now);
      release();
      throw new RateLimitedError(
        `Upstream "${provider.name}" is at its ${provider.requestsPerMinute} requests per minute`,
        wait,
        { provider: provider.name, limit: 'UPSTREAM_RPM' },
      );
    }
    try {
      await sleep(wait, signal);
    } catch (error) {
      key.bucket.give(1);
      release();
      throw error;
    }
    return release;
  }

  /** A 401/403: the key is left out for the cooldown. */
  markFailed(provider: Provider, keyIndex: number, now = Date.now()): void {
    this.key(provider, keyIndex).failedUntil = now + this.policy.keyCooldownMs;
  }

  /** A key slot by the index pickKey gave; a wrong index is a bug, not a condition to handle. */
  private key(provider: Provider, keyIndex: number): KeySlot {
    const key = this.slots(provider).keys[keyIndex];
    if (!key) throw new Error(`provider ${provider.id} has no key slot ${keyIndex}`);
    return key;
  }

  view(provider: Provider, now = Date.now()): UpstreamKeyView[] {
    return this.slots(provider).keys.map((k) => {
      const active = k.semaphore.active;
      const queued = k.semaphore.queued;
      return {
        providerId: provider.id,
        provider: provider.name,
        index: k.index + 1,
        source: k.source,
        active,
        queued,
        maxConcurrency: k.semaphore.max,
        requestsPerMinute: k.bucket.capacity,
        availableTokens: Math.max(0, Math.floor(k.bucket.available(now))),
        utilization: (active + queued) / k.semaphore.max,
        failed: k.failedUntil > now,
        failedUntil: k.failedUntil > now ? new Date(k.failedUntil) : null,
      };
    });
  }

  private free(key: KeySlot, now: number): boolean {
    return key.semaphore.hasFreeSlot() && key.bucket.waitFor(1, now) === 0;
  }

  /** The provider's key slots, made on first use and reshaped when the provider changed. */
  private slots(provider: Provider): ProviderSlots {
    const version = provider.createdAt.getTime();
    const existing = this.providers.get(provider.id);
    const count = UpstreamLimiter.keyCount(provider);
    if (existing && existing.version === version && existing.keys.length === count) {
      for (const k of existing.keys) {
        k.semaphore.resize(provider.maxConcurrency);
        k.bucket.resize(provider.requestsPerMinute);
      }
      return existing;
    }
    const sources =
      provider.kind === 'SIMULATED' ? ['simulated'] : CatalogService.describeKeys(provider.upstreamKeys);
    const slots: ProviderSlots = {
      version,
      cursor: 0,
      keys: sources.map((source, index) => ({
        index,
        source,
        semaphore: new Semaphore(provider.maxConcurrency, this.policy.queueMax),
        bucket: new TokenBucket(provider.requestsPerMinute),
        failedUntil: 0,
      })),
    };
    this.providers.set(provider.id, slots);
    return slots;
  }
}

import { TokenBucket } from '../../shared/token-bucket';

/** One per-minute bucket a call draws on. */
export interface BucketSpec {
  key: string;
  perMinute: number;
  /** Tokens this call takes; at most `perMinute` (a bucket never holds more). */
  cost: number;
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number; index: number };

/**
 * Where gateway-key and project rate buckets live: this process (MemoryRateStore), or Redis so
 * that every instance draws on the same buckets (RedisRateStore).
 */
export interface RateStore {
  readonly distributed: boolean;
  /** Takes every bucket's cost, or none when one is short: then the exact wait for the longest. */
  take(buckets: readonly BucketSpec[]): Promise<TakeResult>;
  /** Puts tokens back (an unused part of a charge), never above capacity. */
  give(bucket: BucketSpec): Promise<void>;
  /** Tokens in each bucket now (a full bucket when never used). */
  peek(buckets: readonly Omit<BucketSpec, 'cost'>[]): Promise<number[]>;
  close(): Promise<void>;
}

/** Buckets in this process: exact for one instance; each instance counts on its own. */
export class MemoryRateStore implements RateStore {
  readonly distributed = false;
  private readonly buckets = new Map<string, TokenBucket>();

  take(specs: readonly BucketSpec[]): Promise<TakeResult> {
    const now = Date.now();
    let worst = 0;
    let index = -1;
    const buckets = specs.map((spec, i) => {
      const bucket = this.bucket(spec, now);
      const wait = bucket.waitFor(spec.cost, now);
      if (wait > worst) {
        worst = wait;
        index = i;
      }
      return bucket;
    });
    if (worst > 0) return Promise.resolve({ ok: false, retryAfterMs: worst, index });
    buckets.forEach((bucket, i) => bucket.tryTake(specs[i]!.cost, now));
    this.prune(now);
    return Promise.resolve({ ok: true });
  }

  give(spec: BucketSpec): Promise<void> {
    this.buckets.get(spec.key)?.give(spec.cost);
    return Promise.resolve();
  }

  peek(specs: readonly Omit<BucketSpec, 'cost'>[]): Promise<number[]> {
    const now = Date.now();
    return Promise.resolve(
      specs.map((spec) => {
        const bucket = this.buckets.get(spec.key);
        if (!bucket) return spec.perMinute;
        bucket.resize(spec.perMinute, now);
        return bucket.available(now);
      }),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private bucket(spec: Omit<BucketSpec, 'cost'>, now: number): TokenBucket {
    let bucket = this.buckets.get(spec.key);
    if (!bucket) {
      bucket = new TokenBucket(spec.perMinute, now);
      this.buckets.set(spec.key, bucket);
    } else {
      bucket.resize(spec.perMinute, now);
    }
    return bucket;
  }

  /** A full bucket is the same as no bucket: drop them when the map grows. */
  private prune(now: number): void {
    if (this.buckets.size < 10_000) return;
    for (const [key, bucket] of this.buckets) if (bucket.isFull(now)) this.buckets.delete(key);
  }
}

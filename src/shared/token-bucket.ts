/** Every limit here is "per minute"; a bucket refills its whole capacity over this window. */
export const WINDOW_MS = 60_000;

/**
 * A token bucket of `perMinute` tokens that refills continuously (perMinute / 60 000 per ms).
 * Arithmetic is in integer units of 1/60 000 token, so refill per millisecond is exactly
 * `perMinute` units and every wait it reports is exact to the millisecond (no float drift).
 * The same arithmetic runs in Redis (redis-rate.store.ts), so both stores agree.
 */
export class TokenBucket {
  private units: number;
  private at: number;

  constructor(
    private perMinute: number,
    now = Date.now(),
  ) {
    this.units = perMinute * WINDOW_MS;
    this.at = now;
  }

  get capacity(): number {
    return this.perMinute;
  }

  /** A new capacity (the limit was changed); the tokens held are kept, clamped to it. */
  resize(perMinute: number, now = Date.now()): void {
    if (perMinute === this.perMinute) return;
    this.refill(now);
    this.perMinute = perMinute;
    this.units = Math.min(this.units, perMinute * WINDOW_MS);
  }

  /** Whole and fractional tokens available now (negative while a reservation is in debt). */
  available(now = Date.now()): number {
    this.refill(now);
    return this.units / WINDOW_MS;
  }

  /** True when the bucket is full (nothing to remember about it). */
  isFull(now = Date.now()): boolean {
    this.refill(now);
    return this.units >= this.perMinute * WINDOW_MS;
  }

  /** Milliseconds until `cost` tokens are there (0: they are now); takes nothing. */
  waitFor(cost: number, now = Date.now()): number {
    this.refill(now);
    return waitFor(this.units, cost * WINDOW_MS, this.perMinute);
  }

  /** Takes `cost` tokens when there are enough and returns 0; else takes nothing and returns the exact wait in ms. */
  tryTake(cost: number, now = Date.now()): number {
    this.refill(now);
    const wait = waitFor(this.units, cost * WINDOW_MS, this.perMinute);
    if (wait === 0) this.units -= cost * WINDOW_MS;
    return wait;
  }

  /**
   * Takes `cost` tokens now even into debt and returns how long the caller must wait before
   * using them (0 when they were there). Concurrent callers so get distinct, ordered slots.
   */
  reserve(cost: number, now = Date.now()): number {
    this.refill(now);
    const wait = waitFor(this.units, cost * WINDOW_MS, this.perMinute);
    this.units -= cost * WINDOW_MS;
    return wait;
  }

  /** Gives tokens back (an unused reservation or a refund), never above capacity. */
  give(cost: number, now = Date.now()): void {
    this.refill(now);
    this.units = Math.min(this.perMinute * WINDOW_MS, this.units + cost * WINDOW_MS);
  }

  private refill(now: number): void {
    if (now <= this.at) return;
    this.units = Math.min(this.perMinute * WINDOW_MS, this.units + (now - this.at) * this.perMinute);
    this.at = now;
  }
}

/** Milliseconds until `units` grows to `needed` at `perMinute` units per ms; 0 when it already has. */
export function waitFor(units: number, needed: number, perMinute: number): number {
  if (units >= needed) return 0;
  return Math.ceil((needed - units) / perMinute);
}

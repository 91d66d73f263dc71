import { Semaphore, SlotUnavailableError } from '../../src/modules/upstream/semaphore';
import { TokenBucket } from '../../src/shared/token-bucket';

describe('TokenBucket (per minute, exact integer refill)', () => {
  it('starts full, refuses the next token with the exact wait, and refills continuously', () => {
    const bucket = new TokenBucket(60, 0); // one token per second
    for (let i = 0; i < 60; i++) expect(bucket.tryTake(1, 0)).toBe(0);
    expect(bucket.tryTake(1, 0)).toBe(1000);
    expect(bucket.tryTake(1, 250)).toBe(750);
    expect(bucket.available(250)).toBeCloseTo(0.25, 10);
    expect(bucket.tryTake(1, 999)).toBe(1);
    expect(bucket.tryTake(1, 1000)).toBe(0);
    expect(bucket.available(1000)).toBe(0);
  });

  it('never holds more than its capacity however long it idles', () => {
    const bucket = new TokenBucket(10, 0);
    bucket.tryTake(10, 0);
    expect(bucket.available(10 * 60_000)).toBe(10);
    expect(bucket.tryTake(11, 10 * 60_000)).toBeGreaterThan(0);
  });

  it('reserve hands concurrent callers distinct, ordered slots', () => {
    const bucket = new TokenBucket(120, 0); // one token per 500 ms
    bucket.tryTake(120, 0);
    expect([bucket.reserve(1, 0), bucket.reserve(1, 0), bucket.reserve(1, 0)]).toEqual([500, 1000, 1500]);
    bucket.give(1, 0); // a reservation given back
    expect(bucket.reserve(1, 0)).toBe(1500);
  });

  it('waits are exact for token costs too (3 tokens at 1,200 per minute = 150 ms)', () => {
    const bucket = new TokenBucket(1200, 0);
    bucket.tryTake(1200, 0);
    expect(bucket.waitFor(3, 0)).toBe(150);
    expect(bucket.waitFor(3, 149)).toBe(1);
    expect(bucket.tryTake(3, 150)).toBe(0);
  });

  it('resizing keeps the tokens, clamped to the new capacity', () => {
    const bucket = new TokenBucket(100, 0);
    bucket.resize(10, 0);
    expect(bucket.available(0)).toBe(10);
  });
});

describe('Semaphore (bounded queue, queue timeout)', () => {
  it('admits at most max, queues FIFO, and hands slots over on release', async () => {
    const sem = new Semaphore(2, 10);
    const a = await sem.acquire(1000);
    await sem.acquire(1000);
    const order: number[] = [];
    const third = sem.acquire(1000).then((r) => (order.push(3), r));
    const fourth = sem.acquire(1000).then((r) => (order.push(4), r));
    expect(sem.active).toBe(2);
    expect(sem.queued).toBe(2);
    a();
    a(); // a second release of the same slot is ignored
    (await third)();
    (await fourth)();
    expect(order).toEqual([3, 4]);
    expect(sem.active).toBe(1);
  });

  it('refuses at once when the queue is full, and times a waiter out', async () => {
    const sem = new Semaphore(1, 1);
    await sem.acquire(1000);
    const waiting = sem.acquire(50);
    await expect(sem.acquire(1000)).rejects.toEqual(new SlotUnavailableError('queue-full'));
    const started = Date.now();
    await expect(waiting).rejects.toEqual(new SlotUnavailableError('timeout'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(sem.queued).toBe(0);
  });

  it('an aborted waiter leaves the queue', async () => {
    const sem = new Semaphore(1, 5);
    await sem.acquire(1000);
    const controller = new AbortController();
    const waiting = sem.acquire(1000, controller.signal);
    controller.abort(new Error('client went away'));
    await expect(waiting).rejects.toThrow('client went away');
    expect(sem.queued).toBe(0);
  });
});

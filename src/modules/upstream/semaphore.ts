/** Why a caller did not get a slot. */
export class SlotUnavailableError extends Error {
  constructor(readonly reason: 'queue-full' | 'timeout') {
    super(reason === 'queue-full' ? 'the wait queue is full' : 'timed out waiting for a slot');
    this.name = 'SlotUnavailableError';
  }
}

interface Waiter {
  grant: () => void;
  settled: boolean;
}

/**
 * A counting semaphore with a bounded FIFO wait queue: at most `max` holders, at most
 * `queueMax` waiters, each waiting at most its timeout. `acquire` resolves to a release
 * function that must be called exactly once (extra calls are ignored).
 */
export class Semaphore {
  private holders = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private limit: number,
    private readonly queueMax: number,
  ) {}

  get active(): number {
    return this.holders;
  }

  get queued(): number {
    return this.queue.length;
  }

  get max(): number {
    return this.limit;
  }

  /** A new cap (the provider changed); waiters are admitted at once if it grew. */
  resize(max: number): void {
    this.limit = max;
    this.drain();
  }

  hasFreeSlot(): boolean {
    return this.holders < this.limit;
  }

  acquire(timeoutMs: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.holders < this.limit && this.queue.length === 0) {
      this.holders++;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.queueMax) return Promise.reject(new SlotUnavailableError('queue-full'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        settled: false,
        grant: () => {
          finish();
          resolve(this.releaser());
        },
      };
      const fail = (error: unknown) => {
        if (waiter.settled) return;
        finish();
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
        reject(error);
      };
      const onAbort = () => fail(signal?.reason);
      const timer = setTimeout(() => fail(new SlotUnavailableError('timeout')), timeoutMs);
      const finish = () => {
        waiter.settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holders--;
      this.drain();
    };
  }

  private drain(): void {
    while (this.holders < this.limit && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.holders++;
      next.grant();
    }
  }
}

interface Waiting<I, O> {
  item: I;
  resolve: (result: O) => void;
  reject: (error: unknown) => void;
}

export interface BatcherOptions {
  /** Most items in one batch. */
  maxItems: number;
  /**
   * Whether a failed batch of several items is worth running again one item at a time (so one bad
   * item fails alone). False for failures every item would meet again, such as a lost connection.
   */
  retryAlone: (error: unknown) => boolean;
  /** Told of each batch run: how many items, and how long it took. */
  observe?: (items: number, seconds: number) => void;
}

/**
 * Group commit. One batch runs at a time; items submitted meanwhile wait and go together in the
 * next one, so under load many calls share one round trip and one commit, while a lone call goes
 * at once (no timer, so nothing is added to its latency).
 */
export class Batcher<I, O> {
  private waiting: Waiting<I, O>[] = [];
  private running = false;

  constructor(
    /** Runs the items together; returns one result per item, in their order. */
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly options: BatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.maxItems);
      const started = performance.now();
      try {
        const results = await this.flush(batch.map((w) => w.item));
        this.options.observe?.(batch.length, (performance.now() - started) / 1000);
        batch.forEach((w, i) => w.resolve(results[i]!)); // one result per item: the flush's contract
      } catch (error) {
        if (batch.length === 1 || !this.options.retryAlone(error)) {
          for (const w of batch) w.reject(error);
        } else {
          await Promise.all(
            batch.map((w) =>
              this.flush([w.item]).then(
                ([result]) => w.resolve(result!),
                (alone: unknown) => w.reject(alone),
              ),
            ),
          );
        }
      }
    }
    this.running = false;
  }
}

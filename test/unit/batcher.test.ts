import { Batcher } from '../../src/shared/batcher';

/** A batch runner that records each batch and answers when told to. */
function recorder(fail: (item: number) => Error | null = () => null) {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const run = async (items: number[]) => {
    batches.push(items);
    await new Promise<void>((resolve) => gates.push(resolve));
    for (const item of items) {
      const error = fail(item);
      if (error) throw error;
    }
    return items.map((i) => i * 10);
  };
  const open = async () => {
    // let every pending batch finish, including the ones started by the batches finishing
    for (let i = 0; i < 20; i++) {
      while (gates.length > 0) gates.shift()!();
      await new Promise((r) => setImmediate(r));
    }
  };
  return { batches, run, open };
}

describe('Batcher (group commit)', () => {
  it('runs a lone item at once, and the items that came meanwhile together in the next batch', async () => {
    const r = recorder();
    const batcher = new Batcher(r.run, { maxItems: 100, retryAlone: () => true });
    const first = batcher.submit(1);
    expect(r.batches).toEqual([[1]]); // no timer: it went out in the same tick
    const rest = [2, 3, 4].map((i) => batcher.submit(i));
    expect(r.batches).toEqual([[1]]); // they wait for the running batch
    await r.open();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(r.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('caps a batch at maxItems', async () => {
    const r = recorder();
    const batcher = new Batcher(r.run, { maxItems: 2, retryAlone: () => true });
    const all = [1, 2, 3, 4, 5, 6].map((i) => batcher.submit(i));
    await r.open();
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(r.batches).toEqual([[1], [2, 3], [4, 5], [6]]);
  });

  it('runs a failed batch again item by item, so only the bad item fails', async () => {
    const r = recorder((item) => (item === 3 ? new Error('bad item 3') : null));
    const batcher = new Batcher(r.run, { maxItems: 100, retryAlone: () => true });
    const all = [1, 2, 3, 4].map((i) => batcher.submit(i).catch((e: Error) => e.message));
    await r.open();
    expect(await Promise.all(all)).toEqual([10, 20, 'bad item 3', 40]);
    expect(r.batches).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('fails every item of a batch at once when the failure is not worth retrying (a lost connection)', async () => {
    const r = recorder((item) => (item > 1 ? new Error('connection terminated') : null));
    const batcher = new Batcher(r.run, { maxItems: 100, retryAlone: (e) => !/connection/.test(String(e)) });
    const all = [1, 2, 3].map((i) => batcher.submit(i).catch((e: Error) => e.message));
    await r.open();
    expect(await Promise.all(all)).toEqual([10, 'connection terminated', 'connection terminated']);
    expect(r.batches).toEqual([[1], [2, 3]]);
  });

  it('keeps going after a failure: later items still run', async () => {
    const r = recorder((item) => (item === 1 ? new Error('down') : null));
    const batcher = new Batcher(r.run, { maxItems: 100, retryAlone: () => false });
    const failed = batcher.submit(1).catch((e: Error) => e.message);
    await r.open();
    expect(await failed).toBe('down');
    const later = batcher.submit(2);
    await r.open();
    expect(await later).toBe(20);
  });
});

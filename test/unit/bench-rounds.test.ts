import { sumSlices } from '../../bench/rounds';
import type { ScenarioRow } from '../../bench/report';

function row(
  reqPerS: number,
  responses: number,
  cpuPct: number,
  extra: Partial<ScenarioRow> = {},
): ScenarioRow {
  return {
    name: 'graphql c=50',
    target: 'graphql',
    shape: 'closed',
    baseline: 'direct c=50',
    reqPerS,
    latencyMs: { p50: 0, p95: 0, p99: 0, max: 0 },
    addedMs: undefined,
    responses,
    ok: responses,
    non2xx: 0,
    bodyErrors: 0,
    netErrors: 0,
    firstError: undefined,
    rows: responses,
    tollgate: { cpuPct, rssMaxMb: cpuPct },
    dbCpuPct: undefined,
    upstreamCpuPct: 10,
    generatorCpuPct: 20,
    maxSendLagMs: undefined,
    unsent: undefined,
    dbBackends: { idle: 2 },
    gc: {
      minor: 1,
      minorMs: 2,
      major: 0,
      majorMs: 0,
      over10ms: 0,
      batches: responses / 10,
      itemsPerBatch: 10,
      msPerBatch: reqPerS / 100,
      knownOperations: responses,
    },
    walBytes: responses * 100,
    ...extra,
  };
}

describe("the bench's rounds: a scenario's slices summed into one row", () => {
  it('sums counts, takes rates and CPU over the summed time and latencies from every answer', () => {
    // 1 s at 1,000/s and 3 s at 500/s: 2,500 answers in 4 s
    const summed = sumSlices([
      { row: row(1000, 1000, 80), latencies: [1, 2, 3], elapsedS: 1 },
      { row: row(500, 1500, 40, { firstError: 'boom' }), latencies: [4, 5, 6, 7], elapsedS: 3 },
    ]);
    expect(summed.reqPerS).toBe(625);
    expect(summed.responses).toBe(2500);
    expect(summed.rows).toBe(2500);
    expect(summed.walBytes).toBe(250_000);
    expect(summed.tollgate).toEqual({ cpuPct: 50, rssMaxMb: 80 });
    expect(summed.latencyMs).toEqual({ p50: 4, p95: 7, p99: 7, max: 7 });
    expect(summed.firstError).toBe('boom');
    expect(summed.dbCpuPct).toBeUndefined();
    expect(summed.dbBackends).toEqual({ idle: 2 });
    // batches of 10 ms (100 of them) and of 5 ms (150): 7 ms on average
    expect(summed.gc).toMatchObject({
      minor: 2,
      batches: 250,
      itemsPerBatch: 10,
      msPerBatch: 7,
      knownOperations: 2500,
    });
  });

  it('counts the time of a slice that got no answer', () => {
    const summed = sumSlices([
      { row: row(1000, 1000, 80), latencies: [1], elapsedS: 1 },
      { row: row(0, 0, 0), latencies: [], elapsedS: 1 },
    ]);
    expect(summed.reqPerS).toBe(500);
    expect(summed.tollgate?.cpuPct).toBe(40);
  });

  it('leaves a single slice as it is', () => {
    const only = row(100, 300, 10);
    expect(sumSlices([{ row: only, latencies: [], elapsedS: 3 }])).toBe(only);
  });
});

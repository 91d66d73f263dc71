import { latencyStats } from './load';
import type { ScenarioRow } from './report';

/**
 * A scenario measured in slices (`--rounds`): the whole scenario list runs several times in turn,
 * so each row's slices meet the machine's slow and fast stretches as its neighbours' do, and a
 * ratio between two rows of one run compares like with like. The slices add up to one row: counts
 * summed, rates and CPU shares over the summed time, latencies from every answer of every slice.
 */
export interface Slice {
  row: ScenarioRow;
  latencies: number[];
  /** From the slice's first request to its last answer (0 answers still took their time). */
  elapsedS: number;
}

export function sumSlices(slices: Slice[]): ScenarioRow {
  const [first] = slices;
  if (!first) throw new Error('no slices to sum');
  if (slices.length === 1) return first.row;
  const rows = slices.map((s) => s.row);
  const seconds = slices.map((s) => s.elapsedS);
  const totalSeconds = seconds.reduce((a, b) => a + b, 0);
  const sum = (of: (r: ScenarioRow) => number | undefined) =>
    rows.some((r) => of(r) !== undefined) ? rows.reduce((a, r) => a + (of(r) ?? 0), 0) : undefined;
  // a share of the time (CPU%), weighted by each slice's length
  const overTime = (of: (r: ScenarioRow) => number | undefined) =>
    rows.some((r) => of(r) !== undefined) && totalSeconds > 0
      ? rows.reduce((a, r, i) => a + (of(r) ?? 0) * (seconds[i] ?? 0), 0) / totalSeconds
      : undefined;
  const max = (of: (r: ScenarioRow) => number | undefined) =>
    rows.some((r) => of(r) !== undefined) ? Math.max(...rows.map((r) => of(r) ?? 0)) : undefined;
  const responses = sum((r) => r.responses) ?? 0;
  const backends: Record<string, number> = {};
  for (const [i, r] of rows.entries())
    for (const [state, n] of Object.entries(r.dbBackends ?? {}))
      backends[state] = (backends[state] ?? 0) + (n * (seconds[i] ?? 0)) / (totalSeconds || 1);
  const gcRows = rows.flatMap((r) => (r.gc ? [r.gc] : []));
  const batches = gcRows.reduce((a, g) => a + g.batches, 0);
  return {
    ...first.row,
    reqPerS: totalSeconds > 0 ? responses / totalSeconds : 0,
    latencyMs: latencyStats(slices.flatMap((s) => s.latencies)),
    addedMs: undefined,
    responses,
    ok: sum((r) => r.ok) ?? 0,
    non2xx: sum((r) => r.non2xx) ?? 0,
    bodyErrors: sum((r) => r.bodyErrors) ?? 0,
    netErrors: sum((r) => r.netErrors) ?? 0,
    firstError: rows.find((r) => r.firstError)?.firstError,
    rows: sum((r) => r.rows),
    tollgate: first.row.tollgate && {
      cpuPct: overTime((r) => r.tollgate?.cpuPct) ?? 0,
      rssMaxMb: max((r) => r.tollgate?.rssMaxMb) ?? 0,
    },
    dbCpuPct: overTime((r) => r.dbCpuPct),
    upstreamCpuPct: overTime((r) => r.upstreamCpuPct) ?? 0,
    generatorCpuPct: overTime((r) => r.generatorCpuPct) ?? 0,
    maxSendLagMs: max((r) => r.maxSendLagMs),
    unsent: sum((r) => r.unsent),
    dbBackends: first.row.dbBackends && backends,
    walBytes: sum((r) => r.walBytes),
    gc: first.row.gc && {
      minor: gcRows.reduce((a, g) => a + g.minor, 0),
      minorMs: gcRows.reduce((a, g) => a + g.minorMs, 0),
      major: gcRows.reduce((a, g) => a + g.major, 0),
      majorMs: gcRows.reduce((a, g) => a + g.majorMs, 0),
      over10ms: gcRows.reduce((a, g) => a + g.over10ms, 0),
      batches,
      itemsPerBatch: batches > 0 ? gcRows.reduce((a, g) => a + g.itemsPerBatch * g.batches, 0) / batches : 0,
      msPerBatch: batches > 0 ? gcRows.reduce((a, g) => a + g.msPerBatch * g.batches, 0) / batches : 0,
      knownOperations: gcRows.reduce((a, g) => a + g.knownOperations, 0),
    },
  };
}

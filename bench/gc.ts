/**
 * Tollgate's garbage collections during a scenario, from its own /metrics (prom-client's
 * `nodejs_gc_duration_seconds` histogram, by kind). A collection stops the event loop, so at a
 * steady rate its pauses are what the slowest answers wait for. Beside them, its ledger batches
 * (`tollgate_ledger_batch_seconds` and `_items`): one runs at a time, so how many items each
 * carries and how long each takes bound what the group commit can do. And how many GraphQL calls
 * ran on the known path (a document Apollo validated before, run straight on graphql-js).
 */

export interface GcCounts {
  /** kind (minor, major, incremental, weakcb) -> collections and seconds in them */
  byKind: Record<string, { count: number; seconds: number }>;
  /** Collections that paused over 10 ms (the histogram's 0.01 bucket). */
  over10ms: number;
  ledger: { batches: number; items: number; seconds: number };
  /** GraphQL POSTs run on the known path (src/server/known-operations.ts). */
  knownOperations: number;
}

export interface GcDelta {
  minor: number;
  minorMs: number;
  major: number;
  majorMs: number;
  over10ms: number;
  /** Ledger batches, their average items and milliseconds (from sending to the answer). */
  batches: number;
  itemsPerBatch: number;
  msPerBatch: number;
  /** GraphQL POSTs run on the known path during the scenario. */
  knownOperations: number;
}

export async function gcCounts(origin: string): Promise<GcCounts | undefined> {
  try {
    const response = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) return undefined;
    const text = await response.text();
    const byKind: GcCounts['byKind'] = {};
    let total = 0;
    let upTo10ms = 0;
    for (const [, stat, kind, value] of text.matchAll(
      /^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\}\s+([\d.e+-]+)/gm,
    )) {
      if (kind === undefined) continue;
      const entry = (byKind[kind] ??= { count: 0, seconds: 0 });
      if (stat === 'sum') entry.seconds = Number(value);
      else {
        entry.count = Number(value);
        total += entry.count;
      }
    }
    for (const [, labels, count] of text.matchAll(/^nodejs_gc_duration_seconds_bucket\{([^}]*)\}\s+(\d+)/gm))
      if (labels?.includes('le="0.01"')) upTo10ms += Number(count);
    const metric = (name: string) => Number(new RegExp(`^${name}\\s+([\\d.e+-]+)`, 'm').exec(text)?.[1] ?? 0);
    const ledger = {
      batches: metric('tollgate_ledger_batch_seconds_count'),
      items: metric('tollgate_ledger_batch_items_sum'),
      seconds: metric('tollgate_ledger_batch_seconds_sum'),
    };
    return {
      byKind,
      over10ms: total - upTo10ms,
      ledger,
      knownOperations: metric('tollgate_graphql_known_operations_total'),
    };
  } catch {
    return undefined;
  }
}

export function gcDelta(before: GcCounts | undefined, after: GcCounts | undefined): GcDelta | undefined {
  if (!before || !after) return undefined;
  const of = (kind: string) => {
    const a = after.byKind[kind] ?? { count: 0, seconds: 0 };
    const b = before.byKind[kind] ?? { count: 0, seconds: 0 };
    return { count: a.count - b.count, ms: (a.seconds - b.seconds) * 1000 };
  };
  const batches = after.ledger.batches - before.ledger.batches;
  const minor = of('minor');
  const major = of('major');
  return {
    minor: minor.count,
    minorMs: minor.ms,
    major: major.count,
    majorMs: major.ms,
    over10ms: after.over10ms - before.over10ms,
    batches,
    itemsPerBatch: batches > 0 ? (after.ledger.items - before.ledger.items) / batches : 0,
    msPerBatch: batches > 0 ? ((after.ledger.seconds - before.ledger.seconds) * 1000) / batches : 0,
    knownOperations: after.knownOperations - before.knownOperations,
  };
}

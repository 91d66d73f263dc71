/**
 * Tollgate's garbage collections during a scenario, from its own /metrics (prom-client's
 * `nodejs_gc_duration_seconds` histogram, by kind). A collection stops the event loop, so at a
 * steady rate its pauses are what the slowest answers wait for.
 */

export interface GcCounts {
  /** kind (minor, major, incremental, weakcb) -> collections and seconds in them */
  byKind: Record<string, { count: number; seconds: number }>;
  /** Collections that paused over 10 ms (the histogram's 0.01 bucket). */
  over10ms: number;
}

export interface GcDelta {
  minor: number;
  minorMs: number;
  major: number;
  majorMs: number;
  over10ms: number;
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
    return { byKind, over10ms: total - upTo10ms };
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
  const minor = of('minor');
  const major = of('major');
  return {
    minor: minor.count,
    minorMs: minor.ms,
    major: major.count,
    majorMs: major.ms,
    over10ms: after.over10ms - before.over10ms,
  };
}

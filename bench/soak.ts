import { latencyStats, runPaced, type LatencyStats, type LiveCounts, type LoadResult } from './load';
import type { Options } from './options';
import { cpuSeconds, memoryMb } from './proc';
import type { Env } from './scenarios';

/**
 * Soak mode (`--soak MINUTES`): GraphQL completions at a steady paced rate (`--rate`, default
 * 200/s) for MINUTES, and whether Tollgate's memory stays flat.
 *
 * Every 10 s a sample: RSS and RssAnon (/proc), the V8 heap used (Tollgate's /metrics), the
 * completions so far, Tollgate's CPU. Every 1 s, RSS alone (one read of /proc/PID/status): a
 * Node process's RSS saws up and down by tens of MB between garbage collections, so averages
 * of 10 s samples are too coarse to judge a few percent. The verdict compares the average RSS
 * of the last `w` minutes with that of minutes `w` to `2w` (after warm-up), `w` = 2 (less for
 * soaks under 10 minutes): flat when it grew by at most FLAT_LIMIT_PCT. The floors (lowest RSS,
 * lowest heap used, i.e. right after a collection) of the same windows are printed beside it:
 * a leak raises the floor, a larger heap between collections only the average.
 */

/** Growth of the late RSS average over the early one above which memory is not called flat. */
export const FLAT_LIMIT_PCT = 5;

const RSS_TICK_MS = 1000;

export interface SoakSample {
  /** Seconds since the soak started. */
  atS: number;
  rssMb: number | undefined;
  /** RssAnon (anonymous memory: V8 heap, buffers, malloc). */
  anonMb: number | undefined;
  /** V8 heap used, from Tollgate's own /metrics (prom-client default metrics), when it answers. */
  heapUsedMb: number | undefined;
  /** Answers and successful completions so far. */
  responses: number;
  ok: number;
  /** How many latencies had been recorded (to cut the latencies into windows). */
  latencyCount: number;
  /** utime + stime of Tollgate so far, in seconds. */
  tollgateCpuS: number | undefined;
}

/** RSS alone, every second. */
export interface RssTick {
  atS: number;
  rssMb: number;
}

export interface SoakMinute {
  minute: number;
  /** At the minute mark. */
  rssMb: number | undefined;
  /** Lowest, average and highest of the 1 s RSS readings of the minute that ends here. */
  rssMinMb: number | undefined;
  rssAvgMb: number | undefined;
  rssMaxMb: number | undefined;
  /** Lowest V8 heap used among the 10 s samples of the minute (the nearest to "after a GC"). */
  heapMinMb: number | undefined;
  anonMb: number | undefined;
  heapUsedMb: number | undefined;
  completions: number;
  /** Over the minute that ends here. */
  reqPerS: number | undefined;
  p50Ms: number | undefined;
  p99Ms: number | undefined;
  cpuPct: number | undefined;
}

export interface MemoryWindow {
  /** Minutes from the start of the soak. */
  from: number;
  to: number;
  rssAvgMb: number;
  rssMinMb: number;
  /** Lowest V8 heap used among the 10 s samples of the window. */
  heapMinMb: number | undefined;
}

export interface Flatness {
  early: MemoryWindow;
  late: MemoryWindow;
  growthMb: number;
  growthPct: number;
  /** Least-squares slope of RSS over the readings after warm-up, MB per minute. */
  slopeMbPerMin: number;
  flat: boolean;
}

export interface SoakReport {
  minutes: number;
  rate: number;
  sampleS: number;
  samples: SoakSample[];
  rssTicks: RssTick[];
  perMinute: SoakMinute[];
  latencyMs: LatencyStats;
  responses: number;
  ok: number;
  non2xx: number;
  bodyErrors: number;
  netErrors: number;
  unsent: number;
  maxSendLagMs: number | undefined;
  firstError: string | undefined;
  flatness: Flatness | undefined;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function heapUsedMb(origin: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!response.ok) return undefined;
    const match = /^nodejs_heap_size_used_bytes\s+([\d.e+]+)/m.exec(await response.text());
    return match ? Number(match[1]) / 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

export async function runSoak(
  env: Env,
  o: Options,
  log: (line: string) => void,
): Promise<{ load: LoadResult; soak: SoakReport }> {
  const minutes = o.soakMinutes ?? 0;
  const durationS = Math.round(minutes * 60);
  const pid = env.tollgate.pid;
  const samples: SoakSample[] = [];
  const rssTicks: RssTick[] = [];
  let live: LiveCounts | undefined;
  let started = 0;
  const sample = async (atS: number): Promise<SoakSample> => {
    const memory = memoryMb(pid);
    const counts = {
      responses: live?.responses ?? 0,
      ok: live?.ok ?? 0,
      latencyCount: live?.latencies.length ?? 0,
    };
    const s: SoakSample = {
      atS,
      rssMb: memory?.rss,
      anonMb: memory?.anon,
      heapUsedMb: await heapUsedMb(env.tollgate.origin),
      ...counts,
      tollgateCpuS: cpuSeconds(pid),
    };
    samples.push(s);
    return s;
  };
  let ticker: NodeJS.Timeout | undefined;

  let running = true;
  const sampler = (async () => {
    while (!live) await pause(1);
    for (let k = 1; running; k++) {
      const due = started + k * o.soakSampleS * 1000;
      while (running && performance.now() < due) await pause(Math.min(250, due - performance.now()));
      if (!running) break;
      const s = await sample(k * o.soakSampleS);
      if ((k * o.soakSampleS) % 60 === 0) {
        log(
          `  minute ${s.atS / 60}: RSS ${fixed(s.rssMb)} MB, heap ${fixed(s.heapUsedMb)} MB, ${s.ok} completions`,
        );
      }
    }
  })();

  const load = await runPaced(env.targets.graphql, o.rate, durationS, {
    onStart: (counts) => {
      live = counts;
      started = performance.now();
      void sample(0);
      ticker = setInterval(() => {
        const rss = memoryMb(pid)?.rss;
        if (rss !== undefined) rssTicks.push({ atS: (performance.now() - started) / 1000, rssMb: rss });
      }, RSS_TICK_MS);
    },
    onDeadline: () => {
      running = false;
      clearInterval(ticker);
    },
  });
  await sampler;
  samples.sort((a, b) => a.atS - b.atS);
  // The last answers, after the drain (same memory, more completions): the "end" row.
  if (samples.at(-1)?.atS !== durationS) await sample(durationS);

  const soak: SoakReport = {
    minutes,
    rate: o.rate,
    sampleS: o.soakSampleS,
    samples,
    rssTicks,
    perMinute: perMinute(samples, rssTicks, live?.latencies ?? []),
    latencyMs: latencyStats(load.latencies),
    responses: load.responses,
    ok: load.ok,
    non2xx: load.non2xx,
    bodyErrors: load.bodyErrors,
    netErrors: load.netErrors,
    unsent: load.unsent ?? 0,
    maxSendLagMs: load.maxSendLagMs,
    firstError: load.firstError,
    flatness: flatness(samples, rssTicks, minutes),
  };
  return { load, soak };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** One row per whole minute (and the end), with rate, latency and CPU over the minute before. */
export function perMinute(
  samples: SoakSample[],
  ticks: RssTick[],
  latencies: readonly number[],
): SoakMinute[] {
  const marks = samples.filter((s, i) => s.atS % 60 === 0 || i === samples.length - 1);
  return marks.map((s, i) => {
    const prev = i > 0 ? marks[i - 1] : undefined;
    const seconds = prev ? s.atS - prev.atS : 0;
    const window = prev ? latencies.slice(prev.latencyCount, s.latencyCount) : [];
    const stats = window.length ? latencyStats([...window]) : undefined;
    const inMinute = prev ? ticks.filter((t) => t.atS > prev.atS && t.atS <= s.atS).map((t) => t.rssMb) : [];
    const heaps = prev
      ? samples.flatMap((x) =>
          x.atS > prev.atS && x.atS <= s.atS && x.heapUsedMb !== undefined ? [x.heapUsedMb] : [],
        )
      : [];
    const cpu =
      prev && seconds > 0 && s.tollgateCpuS !== undefined && prev.tollgateCpuS !== undefined
        ? ((s.tollgateCpuS - prev.tollgateCpuS) / seconds) * 100
        : undefined;
    return {
      minute: s.atS / 60,
      rssMb: s.rssMb,
      rssMinMb: inMinute.length ? Math.min(...inMinute) : undefined,
      rssAvgMb: inMinute.length ? mean(inMinute) : undefined,
      rssMaxMb: inMinute.length ? Math.max(...inMinute) : undefined,
      heapMinMb: heaps.length ? Math.min(...heaps) : undefined,
      anonMb: s.anonMb,
      heapUsedMb: s.heapUsedMb,
      completions: s.ok,
      reqPerS: prev && seconds > 0 ? (s.responses - prev.responses) / seconds : undefined,
      p50Ms: stats?.p50,
      p99Ms: stats?.p99,
      cpuPct: cpu,
    };
  });
}

/**
 * The verdict. `ticks`: the 1 s RSS readings (when empty, the 10 s samples' RSS stands in).
 */
export function flatness(samples: SoakSample[], ticks: RssTick[], minutes: number): Flatness | undefined {
  const w = Math.min(2, minutes / 5);
  const readings: RssTick[] = ticks.length
    ? ticks
    : samples.flatMap((s) => (s.rssMb === undefined ? [] : [{ atS: s.atS, rssMb: s.rssMb }]));
  const within = <T extends { atS: number }>(list: T[], from: number, to: number) =>
    list.filter((p) => p.atS >= from * 60 && p.atS <= to * 60);
  const window = (from: number, to: number): MemoryWindow | undefined => {
    const rss = within(readings, from, to).map((t) => t.rssMb);
    if (!rss.length) return undefined;
    const heaps = within(samples, from, to).flatMap((s) =>
      s.heapUsedMb === undefined ? [] : [s.heapUsedMb],
    );
    return {
      from,
      to,
      rssAvgMb: mean(rss),
      rssMinMb: Math.min(...rss),
      heapMinMb: heaps.length ? Math.min(...heaps) : undefined,
    };
  };
  const early = window(w, 2 * w);
  const late = window(minutes - w, minutes);
  if (!early || !late) return undefined;
  const points = within(readings, w, minutes).map((t) => ({ x: t.atS / 60, y: t.rssMb }));
  const mx = mean(points.map((p) => p.x));
  const my = mean(points.map((p) => p.y));
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const growthMb = late.rssAvgMb - early.rssAvgMb;
  const growthPct = (growthMb / early.rssAvgMb) * 100;
  return {
    early,
    late,
    growthMb,
    growthPct,
    slopeMbPerMin: sxx > 0 ? sxy / sxx : 0,
    flat: growthPct <= FLAT_LIMIT_PCT,
  };
}

function fixed(n: number | undefined, digits = 0): string {
  return n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
}
const plus = (n: number, digits = 1) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
const minuteLabel = (m: number) => (Number.isInteger(m) ? String(m) : m.toFixed(2));

export function formatSoak(soak: SoakReport): string[] {
  const table: [string, (m: SoakMinute) => string][] = [
    ['minute', (m) => minuteLabel(m.minute)],
    ['RSS MB', (m) => fixed(m.rssAvgMb ?? m.rssMb, 1)],
    ['RSS min', (m) => fixed(m.rssMinMb ?? m.rssMb, 1)],
    ['RSS max', (m) => fixed(m.rssMaxMb ?? m.rssMb, 1)],
    ['heap min', (m) => fixed(m.heapMinMb ?? m.heapUsedMb, 1)],
    ['completions', (m) => String(m.completions)],
    ['req/s', (m) => fixed(m.reqPerS, 0)],
    ['p50 ms', (m) => fixed(m.p50Ms, 2)],
    ['p99 ms', (m) => fixed(m.p99Ms, 2)],
    ['TG CPU%', (m) => fixed(m.cpuPct, 0)],
  ];
  const header = table.map(([name]) => name);
  const body = soak.perMinute.map((m) => table.map(([, cell]) => cell(m)));
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]?.length ?? 0)));
  const render = (line: string[]) => line.map((cell, i) => cell.padStart(widths[i] ?? 0)).join('  ');
  const f = soak.flatness;
  const l = soak.latencyMs;
  const span = (w: MemoryWindow) => `minutes ${minuteLabel(w.from)}-${minuteLabel(w.to)}`;
  return [
    `Soak: ${soak.minutes} min of GraphQL completions paced at ${soak.rate}/s; Tollgate memory sampled every ${soak.sampleS} s (RSS also every 1 s)`,
    '',
    render(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(render),
    '',
    `Each row covers the minute ending there (row 0: at the start). RSS MB / min / max: average, lowest and highest of`,
    `Tollgate's VmRSS read every 1 s; heap min: lowest V8 heap used (/metrics) of the 10 s samples; req/s, p50, p99, TG CPU%:`,
    `rate, latency and Tollgate's CPU over that minute.`,
    `Whole soak: ${soak.responses} answers, ${soak.ok} ok, ${soak.non2xx} non-2xx, ${soak.bodyErrors} body errors, ` +
      `${soak.netErrors} net errors, ${soak.unsent} unsent; latency p50 ${fixed(l.p50, 2)} ms, ` +
      `p95 ${fixed(l.p95, 2)} ms, p99 ${fixed(l.p99, 2)} ms, max ${fixed(l.max, 1)} ms; ` +
      `worst send lag ${fixed(soak.maxSendLagMs, 1)} ms`,
    ...(soak.firstError ? [`First error: ${soak.firstError}`] : []),
    ...(f
      ? [
          `Memory: average RSS ${fixed(f.late.rssAvgMb, 1)} MB over ${span(f.late)} vs ${fixed(f.early.rssAvgMb, 1)} MB ` +
            `over ${span(f.early)}: ${plus(f.growthMb)} MB (${plus(f.growthPct)}%), slope ${plus(f.slopeMbPerMin, 2)} MB/min`,
          `  floors (lowest reading of each window): RSS ${fixed(f.early.rssMinMb, 1)} -> ${fixed(f.late.rssMinMb, 1)} MB, ` +
            `V8 heap used ${fixed(f.early.heapMinMb, 1)} -> ${fixed(f.late.heapMinMb, 1)} MB`,
          `  verdict: ${f.flat ? 'FLAT' : 'GROWING'} (average RSS growth ${f.flat ? '<=' : '>'} ${FLAT_LIMIT_PCT}%)`,
        ]
      : ['Memory: too few readings for a verdict']),
  ];
}

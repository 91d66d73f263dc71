import fs from 'node:fs';
import path from 'node:path';
import type { GcDelta } from './gc';
import type { DbStats, LedgerCheck } from './ledger';
import type { LatencyStats } from './load';
import type { PeerStatus } from './peer';
import type { StackTarget, TargetName } from './scenarios';
import type { SoakReport } from './soak';
import type { Shutdown } from './tollgate';

/** One measured scenario, as printed and as written to .bench/last.json. */
export interface ScenarioRow {
  name: string;
  target: TargetName;
  /** Closed loop (c=N, burst) or open loop at a fixed rate. */
  shape: 'closed' | 'paced';
  /** The direct scenario this row's added latency is measured against. */
  baseline: string | undefined;
  reqPerS: number;
  latencyMs: LatencyStats;
  addedMs: { p50: number; p99: number } | undefined;
  responses: number;
  ok: number;
  non2xx: number;
  /** 2xx answers whose body reports a failure (GraphQL "errors"; REST without "choices"). */
  bodyErrors: number;
  netErrors: number;
  firstError: string | undefined;
  /** usage_records written during the scenario (Tollgate rows only). */
  rows: number | undefined;
  /** Tollgate's process (on floor and peer rows: that server's). */
  tollgate: { cpuPct: number; rssMaxMb: number } | undefined;
  /** Postgres backends serving the bench database (Postgres mode only). */
  dbCpuPct: number | undefined;
  upstreamCpuPct: number;
  generatorCpuPct: number;
  maxSendLagMs: number | undefined;
  /** Open loop: requests not sent because the target had a second's worth waiting already. */
  unsent: number | undefined;
  /** Average number of bench-database backends in each state during the window (Postgres only). */
  dbBackends: Record<string, number> | undefined;
  /** Tollgate's garbage collections during the scenario (Tollgate rows). */
  gc: GcDelta | undefined;
  /**
   * WAL the Postgres server wrote during the scenario (Tollgate and floor rows, Postgres only). It
   * counts every database, but only the row's target is under load meanwhile.
   */
  walBytes: number | undefined;
}

export interface Report {
  date: string;
  machine: { cpus: number; model: string; node: string; platform: string };
  /** The Tollgate checkout benchmarked and its git commit, when known. */
  app: { dir: string; git: string | undefined };
  command: string;
  options: Record<string, unknown>;
  database: 'postgres' | 'embedded';
  scenarios: ScenarioRow[];
  /** The peer gateway: measured, unavailable (and why) or skipped. */
  peer: PeerStatus | undefined;
  /** Each Tollgate door against the peer and the floor under the same load. */
  comparisons: Comparison[];
  /** Soak mode only: the memory curve and its verdict. */
  soak: SoakReport | undefined;
  /** pg_stat_database deltas per successful completion, over the Tollgate scenarios (Postgres only). */
  dbPerCompletion:
    (Omit<DbStats, 'functions'> & { completions: number; functions: FunctionCost[] }) | undefined;
  ledger: LedgerCheck & { clientSuccesses: number; upstreamCalls: number };
  /** How Tollgate took SIGTERM after the run. */
  shutdown: Shutdown;
  tollgateOutput: string;
}

const fixed = (n: number | undefined, digits = 1) =>
  n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
const signed = (n: number | undefined) => (n === undefined ? '-' : `${n >= 0 ? '+' : ''}${n.toFixed(2)}`);

export function formatTable(rows: ScenarioRow[]): string {
  const header = [
    'scenario',
    'req/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'add p50',
    'add p99',
    'non2xx',
    'body err',
    'net err',
    'unsent',
    'rows',
    'TG CPU%',
    'TG ms/req',
    'TG RSS MB',
    'DB CPU%',
    'up CPU%',
    'gen CPU%',
  ];
  const body = rows.map((r) => [
    r.name,
    fixed(r.reqPerS, 0),
    fixed(r.latencyMs.p50, 2),
    fixed(r.latencyMs.p95, 2),
    fixed(r.latencyMs.p99, 2),
    signed(r.addedMs?.p50),
    signed(r.addedMs?.p99),
    String(r.non2xx),
    r.target !== 'direct' ? String(r.bodyErrors) : '-',
    String(r.netErrors),
    r.unsent === undefined ? '-' : String(r.unsent),
    r.rows === undefined ? '-' : String(r.rows),
    fixed(r.tollgate?.cpuPct, 0),
    // CPU per answered request: steadier between runs than req/s on a noisy machine
    fixed(r.tollgate && r.reqPerS > 0 ? (r.tollgate.cpuPct * 10) / r.reqPerS : undefined, 3),
    fixed(r.tollgate?.rssMaxMb, 0),
    fixed(r.dbCpuPct, 0),
    fixed(r.upstreamCpuPct, 0),
    fixed(r.generatorCpuPct, 0),
  ]);
  return table(header, body, 1);
}

/** Columns padded to their widest cell: the first `left` columns left-aligned, the rest right-aligned. */
function table(header: string[], body: string[][], left: number): string {
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]?.length ?? 0)));
  const render = (line: string[]) =>
    line
      .map((cell, i) => (i < left ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  return [render(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(render)].join('\n');
}

/** One Tollgate door under one load, against the peer and the floor under the same load. */
export interface Comparison {
  /** The load, as in the scenario names: "c=1", "c=50", "500/s paced". */
  load: string;
  door: TargetName;
  shape: ScenarioRow['shape'];
  reqPerS: number;
  addedMs: { p50: number; p99: number } | undefined;
  /** Against the peer (undefined: no peer row) and against the floor (undefined: no floor row). */
  peer: Versus | undefined;
  floor: Versus | undefined;
  /** The door's stack floors measured at this load: each against the floor, and the door against it. */
  stacks: StackVersus[];
}

export interface StackVersus {
  target: StackTarget;
  reqPerS: number;
  /** The stack floor against the floor: what the frameworks alone cost. */
  vsFloor: Versus | undefined;
  /** The door against the stack floor: what Tollgate's own work costs through them. */
  door: Versus;
}

export interface Versus {
  reqPerS: number;
  /**
   * Tollgate's req/s divided by theirs; closed loop only (undefined on paced rows, where every
   * target is sent the same fixed rate).
   */
  throughputRatio: number | undefined;
  /** Tollgate's added latency minus theirs, ms (negative: Tollgate adds less). */
  addedP50DiffMs: number | undefined;
  addedP99DiffMs: number | undefined;
}

const DOORS: TargetName[] = ['graphql', 'rest'];

/** Each door's stack floors (stack-floor.ts): the frameworks it is built on, and GraphQL's without express. */
const STACKS_OF: Partial<Record<TargetName, StackTarget[]>> = {
  graphql: ['stack-graphql', 'stack-apollo', 'stack-execute'],
  rest: ['stack-rest'],
};

/**
 * For each load that has a direct baseline of its own (c=1, c=N, paced; not the burst), each
 * Tollgate door against the peer's and the floor's rows of the same load, in the same run.
 */
export function compare(rows: ScenarioRow[]): Comparison[] {
  const loads = rows.filter((r) => r.target === 'direct').map((r) => r.name.slice('direct '.length));
  const find = (target: TargetName, load: string) => rows.find((r) => r.name === `${target} ${load}`);
  const versus = (door: ScenarioRow | undefined, other: ScenarioRow | undefined): Versus | undefined =>
    door &&
    other && {
      reqPerS: other.reqPerS,
      throughputRatio:
        door.shape === 'closed' && other.reqPerS > 0 ? door.reqPerS / other.reqPerS : undefined,
      addedP50DiffMs: door.latencyMs.p50 - other.latencyMs.p50,
      addedP99DiffMs: door.latencyMs.p99 - other.latencyMs.p99,
    };
  return loads.flatMap((load) =>
    DOORS.flatMap((target) => {
      const door = find(target, load);
      if (!door) return [];
      return [
        {
          load,
          door: target,
          shape: door.shape,
          reqPerS: door.reqPerS,
          addedMs: door.addedMs,
          peer: versus(door, find('portkey', load)),
          floor: versus(door, find('floor', load)),
          stacks: (STACKS_OF[target] ?? []).flatMap((stackTarget) => {
            const stack = find(stackTarget, load);
            return stack
              ? [
                  {
                    target: stackTarget,
                    reqPerS: stack.reqPerS,
                    vsFloor: versus(stack, find('floor', load)),
                    door: versus(door, stack)!,
                  },
                ]
              : [];
          }),
        },
      ];
    }),
  );
}

/**
 * The comparison table: Tollgate's throughput as a multiple of the peer's and the floor's, and
 * what it adds to the latency beyond what they add (same baseline, so simply p50 minus p50).
 */
export function formatComparison(comparisons: Comparison[], peer: PeerStatus | undefined): string[] {
  if (comparisons.length === 0) return [];
  const peerLabel = peer ? `${peer.name} ${peer.version}` : 'the peer';
  const diff = (v: Versus | undefined, n: number | undefined) => (!v ? 'n/a' : signed(n));
  const header = [
    'load',
    'door',
    'req/s',
    'x portkey',
    'x floor',
    'add p50',
    'vs portkey',
    'vs floor',
    'add p99',
    'vs portkey',
    'vs floor',
  ];
  const body = comparisons.map((c) => [
    c.load,
    c.door,
    fixed(c.reqPerS, 0),
    ratio(c.peer),
    ratio(c.floor),
    signed(c.addedMs?.p50),
    diff(c.peer, c.peer?.addedP50DiffMs),
    diff(c.floor, c.floor?.addedP50DiffMs),
    signed(c.addedMs?.p99),
    diff(c.peer, c.peer?.addedP99DiffMs),
    diff(c.floor, c.floor?.addedP99DiffMs),
  ]);
  const state = peer && peer.state !== 'measured' ? ` (${peer.state}, see "peer:" above)` : '';
  return [
    `Tollgate against ${peerLabel}${state} and the floor, same run and load:`,
    indent(table(header, body, 2)),
    "  x portkey / x floor: Tollgate's req/s divided by theirs (closed loop only: at a fixed rate all get the same);",
    "  vs portkey / vs floor: Tollgate's added latency minus theirs, ms (negative: Tollgate adds less); n/a: not measured.",
    ...formatStacks(comparisons),
  ];
}

/** A throughput ratio as the tables show it: n/a when not measured, - on paced rows. */
const ratio = (v: Versus | undefined) =>
  !v ? 'n/a' : v.throughputRatio === undefined ? '-' : `${v.throughputRatio.toFixed(2)}x`;

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

/**
 * Each door's stack floor (its frameworks making the floor's trips) between the floor and
 * Tollgate: what the frameworks cost, and what Tollgate's own work costs on top of them.
 */
function formatStacks(comparisons: Comparison[]): string[] {
  const header = [
    'load',
    'door',
    'stack floor',
    'req/s',
    'x floor',
    'door x it',
    'add p50 vs floor',
    'door vs it',
  ];
  const body = comparisons.flatMap((c) =>
    c.stacks.map((stack) => [
      c.load,
      c.door,
      stack.target,
      fixed(stack.reqPerS, 0),
      ratio(stack.vsFloor),
      ratio(stack.door),
      signed(stack.vsFloor?.addedP50DiffMs),
      signed(stack.door.addedP50DiffMs),
    ]),
  );
  if (body.length === 0) return [];
  return [
    "The stack floors, same run: the floor's trips through the door's frameworks, nothing else of Tollgate's",
    '(stack-graphql: express + Apollo + type-graphql; stack-apollo: the same without express; stack-execute: graphql-js',
    'alone on a document validated once, as Tollgate runs a known operation; stack-rest: express):',
    indent(table(header, body, 3)),
    "  x floor: the stack floor's req/s over the floor's; door x it: Tollgate's door's req/s over the stack floor's;",
    "  add p50 vs floor: the stack floor's added p50 minus the floor's, ms; door vs it: Tollgate's minus the stack floor's.",
  ];
}

/** One SQL function's share of a completion: calls, and microseconds of its own and in total. */
export interface FunctionCost {
  name: string;
  calls: number;
  selfUs: number;
  totalUs: number;
}

export function formatDbPerCompletion(stats: Report['dbPerCompletion']): string | undefined {
  if (!stats) return undefined;
  return (
    `Postgres per completion (pg_stat_database over ${stats.completions} completions): ` +
    `${fixed(stats.transactions, 2)} transactions, ${fixed(stats.inserted, 2)} rows inserted, ` +
    `${fixed(stats.updated, 2)} updated, ${fixed(stats.deleted, 2)} deleted, ${fixed(stats.returned, 1)} returned` +
    stats.functions
      .map(
        (f) =>
          `\n  ${f.name}: ${fixed(f.calls, 2)} calls, ${fixed(f.selfUs, 1)} us self, ${fixed(f.totalUs, 1)} us total`,
      )
      .join('')
  );
}

/** One line per Tollgate scenario: what its Postgres backends were doing, on average. */
export function formatBackends(rows: ScenarioRow[]): string[] {
  const lines = rows
    .filter((r) => r.dbBackends && Object.keys(r.dbBackends).length > 0)
    .map((r) => {
      const states = Object.entries(r.dbBackends ?? {});
      const total = states.reduce((sum, [, n]) => sum + n, 0);
      const parts = states.filter(([, n]) => n >= 0.05).map(([state, n]) => `${state} ${n.toFixed(1)}`);
      return `  ${r.name}: ${total.toFixed(1)} backends: ${parts.join(', ')}`;
    });
  return lines.length
    ? ['Postgres backends of the bench database (average over 50 ms samples):', ...lines]
    : [];
}

/** What each row's calls made Postgres write: WAL bytes per answered call (records, indexes, commits, full pages). */
export function formatWal(rows: ScenarioRow[]): string[] {
  const measured = rows.filter((r) => r.walBytes !== undefined && r.ok > 0);
  return measured.length
    ? [
        'Postgres WAL per answered call (the whole server, while only that row ran):',
        '  ' + measured.map((r) => `${r.name} ${Math.round(r.walBytes! / r.ok)} B`).join(', '),
      ]
    : [];
}

/** One line per Tollgate scenario: its garbage collections (pauses of the event loop). */
export function formatGc(rows: ScenarioRow[]): string[] {
  const lines = rows
    .filter((r) => r.gc)
    .map(
      (r) =>
        `  ${r.name}: ${r.gc!.minor} minor (${fixed(r.gc!.minorMs)} ms), ${r.gc!.major} major ` +
        `(${fixed(r.gc!.majorMs)} ms), ${r.gc!.over10ms} paused over 10 ms; ` +
        `${r.gc!.batches} ledger batches of ${fixed(r.gc!.itemsPerBatch)} items, ${fixed(r.gc!.msPerBatch, 2)} ms each` +
        (r.target === 'graphql' ? `; ${r.gc!.knownOperations} known operations` : ''),
    );
  return lines.length
    ? [
        'Tollgate garbage collections, ledger batches and known GraphQL operations (its /metrics, per scenario):',
        ...lines,
      ]
    : [];
}

export function writeJson(file: string, report: Report): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
}

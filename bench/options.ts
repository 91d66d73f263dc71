import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_APP_DIR } from './tollgate';

/**
 * Command-line options of `npm run bench -- ...`:
 *   --quick                 3 s per scenario (default 10 s), 1 s warm-ups
 *   --duration N            N seconds per scenario
 *   --rounds R              each scenario's seconds in R slices, the whole list run R times in turn and
 *                           each scenario's slices summed (default 1): the floor, the peer and Tollgate
 *                           then meet the machine's slow and fast stretches alike
 *   --slice-warmup S        before each slice, S seconds of the same target unmeasured (default 0): every
 *                           row then starts warm, not only the one that follows its own process's
 *   --upstream-latency MS   the fake upstream answers after MS ms (default 0)
 *   --connections N         the concurrent scenario's connections (default 50)
 *   --rate N                the fixed-rate scenarios' requests per second (default 500; soak: 200)
 *   --soak MINUTES          soak mode instead of the scenarios: paced GraphQL completions at --rate
 *                           for MINUTES, Tollgate's RSS sampled every 10 s, then the ledger check
 *   --skip-build            run the existing dist/ as is
 *   --app DIR               benchmark the Tollgate checkout in DIR (default: this one)
 *   --db-set NAME=VALUE     a setting of the bench database, e.g. synchronous_commit=off (repeatable)
 *   --no-budgets            diagnostics: a project without budgets (no reservations)
 *   --no-peer               skip the peer (the Portkey OSS gateway, installed on demand into a cache folder)
 *   --no-stack-floors       skip the stack floors (stack-floor.ts: the floor's trips through express, and
 *                           through express + Apollo + type-graphql; c=1 and c=N only)
 *   --otlp                  Tollgate exports a trace of every call (OTLP/HTTP to a sink in the bench
 *                           process): what tracing costs, against a run without it
 *   --cpu-prof              write a V8 CPU profile of Tollgate to .bench/profile/
 *   --only TEXT             run only the scenarios whose name contains TEXT (and their baselines)
 *   --node-arg FLAG         a Node flag for the Tollgate process, e.g. --max-semi-space-size=32 (repeatable)
 *   --out FILE              the JSON report (default .bench/last.json; soak: .bench/soak.json)
 *
 * `--reads N` is a mode of its own (reads.ts, its options there): N usage records seeded over 90
 * days, then the console's reads timed against the ledger's size.
 */

export interface Options {
  durationS: number;
  /** The scenario list runs this many times, each scenario for durationS / rounds; rows are summed. */
  rounds: number;
  /** Unmeasured seconds of each target right before each of its slices (0: none). */
  sliceWarmupS: number;
  warmupS: number;
  upstreamLatencyMs: number;
  connections: number;
  rate: number;
  /** Soak mode: minutes of paced GraphQL completions at `rate` (undefined: the scenarios). */
  soakMinutes: number | undefined;
  /** Soak mode: seconds between memory samples. */
  soakSampleS: number;
  build: boolean;
  appDir: string;
  dbSettings: string[];
  /** Diagnostics: no budgets, so no reservations and no counter updates. */
  budgets: boolean;
  /** Measure the peer gateway (peer.ts) beside Tollgate; not in soak mode. */
  peer: boolean;
  /** Measure the stack floors (stack-floor.ts) beside the floor, at c=1 and c=N. */
  stackFloors: boolean;
  /** Tollgate traces every call to an OTLP sink in the bench process. */
  otlp: boolean;
  /** Directory for a V8 CPU profile of Tollgate (written when it exits). */
  cpuProf: string | undefined;
  /** Only the scenarios whose name contains this (and their baselines); undefined: all. */
  only: string | undefined;
  /** Diagnostics: extra Node flags for the Tollgate process. */
  nodeArgs: string[];
  out: string;
}

export function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      rounds: { type: 'string', default: '1' },
      'slice-warmup': { type: 'string', default: '0' },
      'upstream-latency': { type: 'string', default: '0' },
      connections: { type: 'string', default: '50' },
      rate: { type: 'string' },
      soak: { type: 'string' },
      'skip-build': { type: 'boolean', default: false },
      app: { type: 'string' },
      'db-set': { type: 'string', multiple: true, default: [] },
      'cpu-prof': { type: 'boolean', default: false },
      'node-arg': { type: 'string', multiple: true, default: [] },
      only: { type: 'string' },
      'no-budgets': { type: 'boolean', default: false },
      'no-peer': { type: 'boolean', default: false },
      'no-stack-floors': { type: 'boolean', default: false },
      otlp: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const num = (name: string, raw: string | undefined, fallback: number, min: number) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`--${name} must be a number >= ${min}`);
    return value;
  };
  const durationS = num('duration', values.duration, values.quick ? 3 : 10, 1);
  const soakMinutes = values.soak === undefined ? undefined : num('soak', values.soak, 0, 0.5);
  const rounds = num('rounds', values.rounds, 1, 1);
  if (!Number.isInteger(rounds)) throw new Error('--rounds must be a whole number');
  if (durationS / rounds < 1)
    throw new Error('--rounds: each slice must last at least 1 s (--duration / --rounds)');
  return {
    durationS,
    rounds,
    sliceWarmupS: num('slice-warmup', values['slice-warmup'], 0, 0),
    warmupS: values.quick ? 1 : 2,
    upstreamLatencyMs: num('upstream-latency', values['upstream-latency'], 0, 0),
    connections: num('connections', values.connections, 50, 1),
    rate: num('rate', values.rate, soakMinutes === undefined ? 500 : 200, 1),
    soakMinutes,
    soakSampleS: 10,
    build: !values['skip-build'],
    appDir: path.resolve(values.app ?? DEFAULT_APP_DIR),
    dbSettings: values['db-set'] ?? [],
    budgets: !values['no-budgets'],
    peer: !values['no-peer'],
    stackFloors: !values['no-stack-floors'],
    otlp: values.otlp,
    cpuProf: values['cpu-prof'] ? path.resolve('.bench/profile') : undefined,
    nodeArgs: values['node-arg'] ?? [],
    only: values.only,
    out: path.resolve(values.out ?? (soakMinutes === undefined ? '.bench/last.json' : '.bench/soak.json')),
  };
}

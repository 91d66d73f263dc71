import { DIRECT_UPSTREAM_KEY, type FakeUpstream } from './fake-upstream';
import { STACK_DOORS, type FloorServer, type StackDoor } from './floor';
import { gcCounts, gcDelta } from './gc';
import { sampleBackends, type LedgerView } from './ledger';
import { latencyStats, runClosedLoop, runPaced, type LoadResult, type Target } from './load';
import type { Options } from './options';
import { peerHeaders, type PeerServer } from './peer';
import { ProcWatch, SelfWatch, type ProcUsage } from './proc';
import type { ScenarioRow } from './report';
import { COMPLETION_BODY, REST_COMPLETION_BODY } from './setup';
import type { TollgateProcess } from './tollgate';

/**
 * The measured scenarios, in run order: each direct baseline, then the same load through the
 * floor, the peer (Portkey) and Tollgate's two front doors, the GraphQL `createChatCompletion`
 * mutation and the OpenAI-compatible `POST /v1/chat/completions`.
 */

type Load = { kind: 'closed'; connections: number; overallRate?: number } | { kind: 'paced'; rate: number };

/**
 * `direct`: the fake upstream alone; `floor`: the same trips as a Tollgate call, nothing else
 * (floor.ts; Postgres mode only); `portkey`: the peer gateway (peer.ts; unless `--no-peer` or
 * it is unavailable); `stack-graphql`, `stack-apollo` and `stack-rest`: the floor's trips through
 * each door's frameworks (stack-floor.ts); `graphql` and `rest`: the two doors of Tollgate.
 */
export type TargetName = 'direct' | 'floor' | StackTarget | 'portkey' | 'graphql' | 'rest';

export type StackTarget = `stack-${StackDoor}`;

const isFloor = (target: TargetName): boolean => target === 'floor' || target.startsWith('stack-');

export const throughTollgate = (target: TargetName): boolean => target === 'graphql' || target === 'rest';

interface Scenario {
  name: string;
  target: TargetName;
  load: Load;
  baseline?: string;
}

export function scenarios(
  o: Options,
  withFloor: boolean,
  withPeer: boolean,
  withStacks: boolean,
): Scenario[] {
  const c = o.connections;
  const group = (label: string, load: Load): Scenario[] => [
    { name: `direct ${label}`, target: 'direct', load },
    ...(withFloor
      ? [{ name: `floor ${label}`, target: 'floor' as const, load, baseline: `direct ${label}` }]
      : []),
    // (closed loops only: at a fixed rate the floors' p99 is the machine's noise, see BENCHMARKS.md)
    ...(withStacks && load.kind === 'closed'
      ? STACK_DOORS.map((door) => ({
          name: `stack-${door} ${label}`,
          target: `stack-${door}` as const,
          load,
          baseline: `direct ${label}`,
        }))
      : []),
    ...(withPeer
      ? [{ name: `portkey ${label}`, target: 'portkey' as const, load, baseline: `direct ${label}` }]
      : []),
    { name: `graphql ${label}`, target: 'graphql', load, baseline: `direct ${label}` },
    { name: `rest ${label}`, target: 'rest', load, baseline: `direct ${label}` },
  ];
  const all: Scenario[] = [
    ...group('c=1', { kind: 'closed', connections: 1 }),
    ...group(`c=${c}`, { kind: 'closed', connections: c }),
    ...group(`${o.rate}/s paced`, { kind: 'paced', rate: o.rate }),
    {
      name: `graphql ${o.rate}/s burst`,
      target: 'graphql',
      load: { kind: 'closed', connections: c, overallRate: o.rate },
      baseline: 'direct c=1',
    },
  ];
  const only = o.only;
  if (only === undefined) return all;
  const chosen = all.filter((s) => s.name.includes(only));
  const baselines = new Set(chosen.map((s) => s.baseline));
  return all.filter((s) => chosen.includes(s) || baselines.has(s.name));
}

export interface Env {
  upstream: FakeUpstream;
  tollgate: TollgateProcess;
  floor: FloorServer | undefined;
  /** The stack floors, when measured. */
  stacks: Partial<Record<StackDoor, FloorServer>>;
  peer: PeerServer | undefined;
  ledger: LedgerView;
  targets: Record<TargetName, Target>;
}

type Backends = Promise<Record<string, number> | undefined>;

/** Runs one scenario while watching CPU, memory and (on Postgres) the database backends. */
export async function runScenario(
  env: Env,
  s: Scenario,
  o: Options,
): Promise<{ load: LoadResult; row: ScenarioRow }> {
  const isTollgate = throughTollgate(s.target);
  const usesDb = isTollgate || isFloor(s.target);
  const rowsBefore = isTollgate ? await env.ledger.usageCount() : 0;
  // (the stack floors write to the floor's database)
  const database = isFloor(s.target) ? env.floor!.database : undefined;
  const dbPids = usesDb ? await env.ledger.backendPids(database) : [];
  // The process whose CPU and RSS fill the TG columns: Tollgate, or the floor or peer server.
  const gateway =
    s.target === 'floor'
      ? env.floor!.pid
      : s.target.startsWith('stack-')
        ? env.stacks[s.target.slice('stack-'.length) as StackDoor]!.pid
        : s.target === 'portkey'
          ? env.peer!.pid
          : env.tollgate.pid;
  const gcBefore = isTollgate ? await gcCounts(env.tollgate.origin) : undefined;
  const walBefore = usesDb ? await env.ledger.walBytes() : undefined;
  const watches = {
    tollgate: new ProcWatch([gateway]),
    upstream: new ProcWatch([env.upstream.pid]),
    db: new ProcWatch(dbPids),
    self: new SelfWatch(),
    backends: isTollgate ? sampleBackends(env.ledger) : undefined,
  };
  let usage:
    | { tollgate: ProcUsage; upstream: ProcUsage; db: Promise<ProcUsage>; self: number; backends: Backends }
    | undefined;
  // Called at the end of the measured window (before the last answers come in), or after it.
  const finish = () =>
    (usage ??= {
      tollgate: watches.tollgate.stop(),
      upstream: watches.upstream.stop(),
      // The pool may have opened backends during the window (c=1 needs 2 or 3, c=50 all of them).
      db: usesDb
        ? env.ledger.backendPids(database).then((pids) => watches.db.stop(pids))
        : Promise.resolve(watches.db.stop()),
      self: watches.self.stop(),
      backends: watches.backends?.stop() ?? Promise.resolve(undefined),
    });
  const onDeadline = () => void finish();
  const target = env.targets[s.target];
  const load =
    s.load.kind === 'paced'
      ? await runPaced(target, s.load.rate, o.durationS, { onDeadline })
      : await runClosedLoop(target, {
          connections: s.load.connections,
          durationS: o.durationS,
          overallRate: s.load.overallRate,
          onDeadline,
        });
  const used = finish();
  const gc = isTollgate ? gcDelta(gcBefore, await gcCounts(env.tollgate.origin)) : undefined;
  const rows = isTollgate ? (await env.ledger.usageCount()) - rowsBefore : undefined;
  const walAfter = walBefore === undefined ? undefined : await env.ledger.walBytes();
  const row: ScenarioRow = {
    name: s.name,
    target: s.target,
    shape: s.load.kind,
    baseline: s.baseline,
    reqPerS: load.responses / load.elapsedS,
    latencyMs: latencyStats(load.latencies),
    addedMs: undefined,
    responses: load.responses,
    ok: load.ok,
    non2xx: load.non2xx,
    bodyErrors: load.bodyErrors,
    netErrors: load.netErrors,
    firstError: load.firstError,
    rows,
    tollgate: s.target !== 'direct' ? used.tollgate : undefined,
    dbCpuPct: usesDb && env.ledger.kind === 'postgres' ? (await used.db).cpuPct : undefined,
    upstreamCpuPct: used.upstream.cpuPct,
    generatorCpuPct: used.self,
    maxSendLagMs: load.maxSendLagMs,
    unsent: load.unsent,
    dbBackends: await used.backends,
    gc,
    walBytes: walBefore === undefined || walAfter === undefined ? undefined : walAfter - walBefore,
  };
  return { load, row };
}

export function targets(
  upstream: FakeUpstream,
  tollgate: TollgateProcess,
  floor: FloorServer | undefined,
  stacks: Env['stacks'],
  peer: PeerServer | undefined,
  clientKey: string,
): Env['targets'] {
  return {
    ...stackTargets(stacks),
    floor: {
      origin: floor?.origin ?? 'http://127.0.0.1:1',
      path: '/v1/chat/completions',
      headers: {},
      body: REST_COMPLETION_BODY,
      failed: (body) => !body.includes('"choices"'),
    },
    portkey: {
      origin: peer?.origin ?? 'http://127.0.0.1:1',
      path: '/v1/chat/completions',
      headers: peerHeaders(upstream.baseUrl),
      body: REST_COMPLETION_BODY,
      failed: (body) => !body.includes('"choices"'),
    },
    direct: {
      origin: upstream.origin,
      path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${DIRECT_UPSTREAM_KEY}` },
      body: REST_COMPLETION_BODY,
    },
    graphql: {
      origin: tollgate.origin,
      path: '/graphql',
      headers: { authorization: `Bearer ${clientKey}` },
      body: COMPLETION_BODY,
      failed: (body) => body.includes('"errors"'),
    },
    rest: {
      origin: tollgate.origin,
      path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${clientKey}` },
      body: REST_COMPLETION_BODY,
      // OpenAI-style errors come with a non-2xx status; a 2xx without choices is a failure too.
      failed: (body) => !body.includes('"choices"'),
    },
  };
}

function stackTargets(stacks: Env['stacks']): Record<StackTarget, Target> {
  const graphql = (door: StackDoor): Target => ({
    origin: stacks[door]?.origin ?? 'http://127.0.0.1:1',
    path: '/graphql',
    headers: {},
    body: COMPLETION_BODY,
    failed: (body) => body.includes('"errors"'),
  });
  return {
    'stack-graphql': graphql('graphql'),
    'stack-apollo': graphql('apollo'),
    'stack-execute': graphql('execute'),
    'stack-rest': {
      origin: stacks.rest?.origin ?? 'http://127.0.0.1:1',
      path: '/v1/chat/completions',
      headers: {},
      body: REST_COMPLETION_BODY,
      failed: (body) => !body.includes('"choices"'),
    },
  };
}

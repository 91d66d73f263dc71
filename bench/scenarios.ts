import { DIRECT_UPSTREAM_KEY, type FakeUpstream } from './fake-upstream';
import { sampleBackends, type LedgerView } from './ledger';
import { latencyStats, runClosedLoop, runPaced, type LoadResult, type Target } from './load';
import type { Options } from './options';
import { ProcWatch, SelfWatch, type ProcUsage } from './proc';
import type { ScenarioRow } from './report';
import { COMPLETION_BODY, REST_COMPLETION_BODY } from './setup';
import type { TollgateProcess } from './tollgate';

/**
 * The measured scenarios, in run order: each direct baseline, then the same load through
 * Tollgate's two front doors, the GraphQL `createChatCompletion` mutation and the
 * OpenAI-compatible `POST /v1/chat/completions`.
 */

type Load = { kind: 'closed'; connections: number; overallRate?: number } | { kind: 'paced'; rate: number };

/** `direct`: the fake upstream alone; `graphql` and `rest`: the two doors of Tollgate. */
export type TargetName = 'direct' | 'graphql' | 'rest';

export const throughTollgate = (target: TargetName): boolean => target !== 'direct';

interface Scenario {
  name: string;
  target: TargetName;
  load: Load;
  baseline?: string;
}

export function scenarios(o: Options): Scenario[] {
  const c = o.connections;
  const group = (label: string, load: Load): Scenario[] => [
    { name: `direct ${label}`, target: 'direct', load },
    { name: `graphql ${label}`, target: 'graphql', load, baseline: `direct ${label}` },
    { name: `rest ${label}`, target: 'rest', load, baseline: `direct ${label}` },
  ];
  return [
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
}

export interface Env {
  upstream: FakeUpstream;
  tollgate: TollgateProcess;
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
  const rowsBefore = isTollgate ? await env.ledger.usageCount() : 0;
  const dbPids = isTollgate ? await env.ledger.backendPids() : [];
  const watches = {
    tollgate: new ProcWatch([env.tollgate.pid]),
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
      db: isTollgate
        ? env.ledger.backendPids().then((pids) => watches.db.stop(pids))
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
  const rows = isTollgate ? (await env.ledger.usageCount()) - rowsBefore : undefined;
  const row: ScenarioRow = {
    name: s.name,
    target: s.target,
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
    tollgate: isTollgate ? used.tollgate : undefined,
    dbCpuPct: isTollgate && env.ledger.kind === 'postgres' ? (await used.db).cpuPct : undefined,
    upstreamCpuPct: used.upstream.cpuPct,
    generatorCpuPct: used.self,
    maxSendLagMs: load.maxSendLagMs,
    unsent: load.unsent,
    dbBackends: await used.backends,
  };
  return { load, row };
}

export function targets(
  upstream: FakeUpstream,
  tollgate: TollgateProcess,
  clientKey: string,
): Env['targets'] {
  return {
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

import { DIRECT_UPSTREAM_KEY, MODEL, type FakeUpstream } from './fake-upstream';
import { sampleBackends, type LedgerView } from './ledger';
import { latencyStats, runClosedLoop, runPaced, type LoadResult, type Target } from './load';
import type { Options } from './options';
import { ProcWatch, SelfWatch, type ProcUsage } from './proc';
import type { ScenarioRow } from './report';
import { COMPLETION_BODY } from './setup';
import type { TollgateProcess } from './tollgate';

/** The measured scenarios, in run order (each Tollgate run right after its direct baseline). */

type Load = { kind: 'closed'; connections: number; overallRate?: number } | { kind: 'paced'; rate: number };

interface Scenario {
  name: string;
  target: 'direct' | 'tollgate';
  load: Load;
  baseline?: string;
}

export function scenarios(o: Options): Scenario[] {
  const c = o.connections;
  return [
    { name: 'direct c=1', target: 'direct', load: { kind: 'closed', connections: 1 } },
    {
      name: 'tollgate c=1',
      target: 'tollgate',
      load: { kind: 'closed', connections: 1 },
      baseline: 'direct c=1',
    },
    { name: `direct c=${c}`, target: 'direct', load: { kind: 'closed', connections: c } },
    {
      name: `tollgate c=${c}`,
      target: 'tollgate',
      load: { kind: 'closed', connections: c },
      baseline: `direct c=${c}`,
    },
    { name: `direct ${o.rate}/s paced`, target: 'direct', load: { kind: 'paced', rate: o.rate } },
    {
      name: `tollgate ${o.rate}/s paced`,
      target: 'tollgate',
      load: { kind: 'paced', rate: o.rate },
      baseline: `direct ${o.rate}/s paced`,
    },
    {
      name: `tollgate ${o.rate}/s burst`,
      target: 'tollgate',
      load: { kind: 'closed', connections: c, overallRate: o.rate },
      baseline: 'direct c=1',
    },
  ];
}

export interface Env {
  upstream: FakeUpstream;
  tollgate: TollgateProcess;
  ledger: LedgerView;
  targets: Record<Scenario['target'], Target>;
}

type Backends = Promise<Record<string, number> | undefined>;

/** Runs one scenario while watching CPU, memory and (on Postgres) the database backends. */
export async function runScenario(
  env: Env,
  s: Scenario,
  o: Options,
): Promise<{ load: LoadResult; row: ScenarioRow }> {
  const isTollgate = s.target === 'tollgate';
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
    { tollgate: ProcUsage; upstream: ProcUsage; db: ProcUsage; self: number; backends: Backends } | undefined;
  // Called at the end of the measured window (before the last answers come in), or after it.
  const finish = () =>
    (usage ??= {
      tollgate: watches.tollgate.stop(),
      upstream: watches.upstream.stop(),
      db: watches.db.stop(),
      self: watches.self.stop(),
      backends: watches.backends?.stop() ?? Promise.resolve(undefined),
    });
  const onDeadline = () => void finish();
  const target = env.targets[s.target];
  const load =
    s.load.kind === 'paced'
      ? await runPaced(target, s.load.rate, o.durationS, onDeadline)
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
    graphqlErrors: load.bodyErrors,
    netErrors: load.netErrors,
    firstError: load.firstError,
    rows,
    tollgate: isTollgate ? used.tollgate : undefined,
    dbCpuPct: isTollgate && env.ledger.kind === 'postgres' ? used.db.cpuPct : undefined,
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
      body: JSON.stringify({
        model: MODEL,
        max_tokens: 64,
        messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
      }),
    },
    tollgate: {
      origin: tollgate.origin,
      path: '/graphql',
      headers: { authorization: `Bearer ${clientKey}` },
      body: COMPLETION_BODY,
      failed: (body) => body.includes('"errors"'),
    },
  };
}

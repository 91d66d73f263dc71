import os from 'node:os';
import path from 'node:path';
import { startFakeUpstream } from './fake-upstream';
import { STACK_DOORS, startFloor } from './floor';
import { sumSlices, type Slice } from './rounds';
import { startStackFloor } from './stack-floor';
import { checkLedger, graphqlLedger, postgresLedger, type DbStats } from './ledger';
import { runClosedLoop } from './load';
import { parseOptions } from './options';
import { runReads } from './reads';
import {
  ensurePeer,
  PEER_NAME,
  PEER_PACKAGE,
  PEER_VERSION,
  startPeer,
  type PeerServer,
  type PeerStatus,
} from './peer';
import {
  compare,
  formatBackends,
  formatComparison,
  formatGc,
  formatWal,
  formatDbPerCompletion,
  formatTable,
  writeJson,
  type Report,
  type ScenarioRow,
} from './report';
import { runScenario, scenarios, targets, throughTollgate, type Env } from './scenarios';
import { formatSoak, runSoak, type SoakReport } from './soak';
import { graphqlClient, setUpProject } from './setup';
import { build, createDatabase, gitDescribe, startTollgate, type BenchDatabase } from './tollgate';
import { startOtlpSink } from './otlp-sink';

/**
 * `npm run bench [-- --quick | --duration N]`: builds Tollgate, starts it and a fake upstream as
 * child processes, sets up a project through GraphQL, measures the upstream direct, the floor
 * (floor.ts), the peer gateway (peer.ts, Portkey; `--no-peer` skips it) and chat completions
 * through Tollgate's two doors, GraphQL and REST (closed loop at c=1 and c=N, open loop at a
 * fixed rate, and autocannon's per-second rate), prints each door's ratio to the peer and the
 * floor, then checks the ledger against the budget counters: PASS or FAIL (exit 1). Prints a table and writes it as JSON to
 * .bench/last.json. `--soak MINUTES` runs paced GraphQL completions for that long instead and
 * reports Tollgate's memory curve (soak.ts). Options: options.ts.
 */

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  if (process.argv.includes('--reads')) return runReads(); // a mode of its own, with its own options
  const o = parseOptions();
  const t0 = performance.now();
  const log = (line: string) =>
    process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    if (cleanups.length) log('cleaning up');
    for (const fn of cleanups.reverse())
      await fn().catch((e: unknown) => log(`cleanup failed: ${String(e)}`));
    cleanups.length = 0;
    log('done');
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  let tollgateOutput = () => '';
  try {
    if (o.build) {
      log(`building ${o.appDir} (npm run -s build)`);
      build(o.appDir);
    }
    const git = gitDescribe(o.appDir); // what was built (others may commit while the bench runs)
    const peerStatus: PeerStatus | undefined =
      o.soakMinutes === undefined
        ? {
            name: PEER_NAME,
            package: PEER_PACKAGE,
            version: PEER_VERSION,
            state: 'skipped',
            reason: '--no-peer',
          }
        : undefined;
    const peerUnavailable = (reason: string) => {
      Object.assign(peerStatus!, { state: 'unavailable', reason });
      log(`peer unavailable, going on without it (ratios to it: n/a): ${reason}`);
    };
    const peerInstall =
      peerStatus && o.peer
        ? await ensurePeer(log).catch((error: unknown) => ({
            error: `could not install it: ${String(error)}`,
          }))
        : undefined;
    if (peerInstall && 'error' in peerInstall) peerUnavailable(peerInstall.error);
    const upstream = await startFakeUpstream(o.upstreamLatencyMs);
    cleanups.push(() => upstream.stop());
    const db: BenchDatabase = await createDatabase(process.env.DATABASE_URL, o.dbSettings);
    cleanups.push(() => db.drop());
    log(
      db.url
        ? `database ${db.name} on DATABASE_URL`
        : 'embedded database (PGlite) in a temp TOLLGATE_DATA_DIR',
    );
    const nodeArgs = [...o.nodeArgs, ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProf}`] : [])];
    const sink = o.otlp ? await startOtlpSink() : undefined;
    if (sink) {
      cleanups.push(() => sink.stop());
      log(`tracing on: OTLP/HTTP to a sink at ${sink.url}`);
    }
    const tollgate = await startTollgate(
      o.appDir,
      db.url,
      nodeArgs,
      sink ? { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } : {},
    );
    cleanups.push(() => tollgate.stop());
    tollgateOutput = () => tollgate.output();
    log(
      `Tollgate pid ${tollgate.pid} at ${tollgate.url}; fake upstream pid ${upstream.pid} at ${upstream.baseUrl}`,
    );

    const gql = graphqlClient(tollgate.url);
    const project = await setUpProject(gql, upstream.baseUrl, o.budgets);
    const ledger =
      db.url && db.name
        ? await postgresLedger(db.url, db.name, project.projectId)
        : graphqlLedger(gql, project.adminKey);
    cleanups.push(() => ledger.close());
    const floorDb = await createDatabase(o.soakMinutes === undefined ? process.env.DATABASE_URL : undefined);
    cleanups.push(() => floorDb.drop());
    const floor =
      floorDb.url && floorDb.name ? await startFloor(upstream.origin, floorDb.url, floorDb.name) : undefined;
    if (floor) cleanups.push(() => floor.stop());
    const stacks: Env['stacks'] = {};
    if (floor && o.stackFloors && o.soakMinutes === undefined) {
      for (const door of STACK_DOORS) {
        const server = await startStackFloor(door, upstream.origin, floorDb.url!, floorDb.name!);
        cleanups.push(() => server.stop());
        stacks[door] = server;
      }
    }
    let peer: PeerServer | undefined;
    if (peerInstall && !('error' in peerInstall)) {
      try {
        const server = await startPeer(peerInstall);
        cleanups.push(() => server.stop());
        peer = server;
        Object.assign(peerStatus!, { state: 'measured', reason: undefined, dir: peerInstall.dir });
        peerStatus!.runtime = peerInstall.runtime;
        const runtime = Object.entries(peerInstall.runtime).map(([name, version]) => `${name} ${version}`);
        log(
          `peer ${PEER_NAME} pid ${peer.pid} at ${peer.origin} (${runtime.join(', ')}; ${peerInstall.installed ? 'installed now' : 'cached'} in ${peerInstall.dir})`,
        );
      } catch (error) {
        peerUnavailable(
          `${PEER_PACKAGE} did not start: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    const env: Env = {
      upstream,
      tollgate,
      floor,
      stacks,
      peer,
      ledger,
      targets: targets(upstream, tollgate, floor, stacks, peer, project.clientKey),
    };

    log(`warming up (${o.warmupS} s each: direct, floor, ${peer ? 'portkey, ' : ''}graphql, rest; c=10)`);
    await runClosedLoop(env.targets.direct, { connections: 10, durationS: o.warmupS });
    if (floor) await runClosedLoop(env.targets.floor, { connections: 10, durationS: o.warmupS });
    for (const door of STACK_DOORS) {
      if (!stacks[door]) continue;
      const target = env.targets[`stack-${door}`];
      const warm = await runClosedLoop(target, { connections: 10, durationS: o.warmupS });
      if (warm.ok === 0)
        throw new Error(`the ${door} stack floor's warm-up calls all failed: ${warm.firstError}`);
    }
    if (peer) {
      const warm = await runClosedLoop(env.targets.portkey, { connections: 10, durationS: o.warmupS });
      if (warm.ok === 0) {
        const output = peer.output();
        peerUnavailable(
          `its warm-up calls all failed: ${warm.firstError}${output ? `; it wrote: ${output.replace(/\n/g, ' | ')}` : ''}`,
        );
        await peer.stop();
        peer = env.peer = undefined;
      }
    }
    let clientSuccesses = 0;
    for (const door of ['graphql', 'rest'] as const) {
      const warm = await runClosedLoop(env.targets[door], { connections: 10, durationS: o.warmupS });
      clientSuccesses += warm.ok;
      if (warm.ok === 0) throw new Error(`${door} warm-up completions all failed: ${warm.firstError}`);
    }

    const settle = () => (ledger.kind === 'postgres' ? pause(1500) : undefined); // pg_stat_database lags ~1 s
    await settle();
    const statsBefore = await ledger.dbStats();
    let scenarioSuccesses = 0;
    const rows: ScenarioRow[] = [];
    let soak: SoakReport | undefined;
    if (o.soakMinutes !== undefined) {
      log(`soak: GraphQL completions paced at ${o.rate}/s for ${o.soakMinutes} min`);
      const result = await runSoak(env, o, log);
      clientSuccesses += result.load.ok;
      scenarioSuccesses += result.load.ok;
      soak = result.soak;
      if (soak.firstError) log(`  first error: ${soak.firstError}`);
    }
    const list =
      o.soakMinutes === undefined
        ? scenarios(o, floor !== undefined, peer !== undefined, stacks.graphql !== undefined)
        : [];
    const slices = new Map<string, Slice[]>();
    const sliceS = o.durationS / o.rounds;
    for (let round = 1; round <= o.rounds; round++) {
      for (const s of list) {
        log(
          `${s.name} for ${Number(sliceS.toFixed(2))} s${o.rounds > 1 ? ` (round ${round} of ${o.rounds})` : ''}`,
        );
        if (o.sliceWarmupS > 0) {
          // (a target idle for a while starts cold: V8 shrinks an idle heap, caches go cold)
          const warm = await runClosedLoop(env.targets[s.target], {
            connections: s.load.kind === 'closed' ? s.load.connections : 10,
            durationS: o.sliceWarmupS,
          });
          if (throughTollgate(s.target)) clientSuccesses += warm.ok;
        }
        const { load, row } = await runScenario(env, s, { ...o, durationS: sliceS });
        if (throughTollgate(s.target)) {
          clientSuccesses += load.ok;
          scenarioSuccesses += load.ok;
        }
        if (row.firstError) log(`  first error: ${row.firstError}`);
        slices.set(s.name, [
          ...(slices.get(s.name) ?? []),
          { row, latencies: load.latencies, elapsedS: load.elapsedS },
        ]);
      }
    }
    for (const s of list) {
      const row = sumSlices(slices.get(s.name) ?? []);
      const base = rows.find((r) => r.name === s.baseline);
      if (base) {
        row.addedMs = {
          p50: row.latencyMs.p50 - base.latencyMs.p50,
          p99: row.latencyMs.p99 - base.latencyMs.p99,
        };
      }
      rows.push(row);
    }

    await settle();
    const statsAfter = await ledger.dbStats();
    const upstreamCalls = (await upstream.stats()).tollgate;
    const check = checkLedger(await ledger.snapshot(), {
      clientSuccesses,
      upstreamCalls,
      budgets: project.budgetIds.length,
    });
    await ledger.close();
    const shutdown = await tollgate.stop(o.cpuProf ? 40_000 : 10_000);
    if (o.cpuProf) log(`CPU profile of Tollgate in ${path.relative(process.cwd(), o.cpuProf)}/`);

    const report: Report = {
      date: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model ?? 'unknown',
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
      },
      app: { dir: o.appDir, git },
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(
        ' ',
      ),
      options: { ...o, out: path.relative(process.cwd(), o.out) },
      database: ledger.kind,
      scenarios: rows,
      peer: peerStatus,
      comparisons: compare(rows),
      soak,
      dbPerCompletion: perCompletion(statsBefore, statsAfter, scenarioSuccesses),
      ledger: { ...check, clientSuccesses, upstreamCalls },
      shutdown,
      tollgateOutput: tollgate.output(),
    };
    writeJson(o.out, report);

    const dbLine = formatDbPerCompletion(report.dbPerCompletion);
    process.stdout.write(
      [
        '',
        `Tollgate benchmark, ${report.date}, ${report.machine.cpus} x ${report.machine.model}, Node ${report.machine.node}`,
        `app: ${o.appDir} (${report.app.git ?? 'not a git checkout'})`,
        `database: ${report.database}${o.dbSettings.length ? ` (${o.dbSettings.join(', ')})` : ''}; upstream latency ${o.upstreamLatencyMs} ms; ${soak ? `soak ${o.soakMinutes} min at ${o.rate}/s` : `${o.durationS} s per scenario${o.rounds > 1 ? ` in ${o.rounds} rounds` : ''}${o.sliceWarmupS > 0 ? `, each slice after ${o.sliceWarmupS} s of warm-up` : ''}`}${o.budgets ? '' : '; NO BUDGETS (diagnostic run)'}`,
        ...(peerStatus ? [`peer: ${describePeer(peerStatus)}`] : []),
        '',
        ...(soak
          ? formatSoak(soak)
          : [
              formatTable(rows),
              '',
              'graphql: the createChatCompletion mutation; rest: POST /v1/chat/completions; direct: the fake upstream alone;',
              'floor: a bare Node server making the same trips as a Tollgate call (commit, upstream call, commit), nothing else',
              "(its TG CPU% and RSS are the floor server's).",
              ...(rows.some((r) => r.target.startsWith('stack-'))
                ? [
                    "stack-graphql, stack-apollo, stack-execute, stack-rest: the floor's trips through a door's frameworks only",
                    '(bench/stack-floor.ts): express + Apollo + type-graphql; the same without express; graphql-js alone on a',
                    'document validated once; express (their TG CPU% and RSS are their own).',
                  ]
                : []),
              ...(rows.some((r) => r.target === 'portkey')
                ? [
                    `portkey: the peer, ${PEER_NAME} (${PEER_PACKAGE} ${PEER_VERSION}) in its own process, the REST body with`,
                    'x-portkey-provider: openai and x-portkey-custom-host: the fake upstream (its TG CPU% and RSS are its own).',
                  ]
                : []),
              'add p50 / add p99: minus the baseline (c=1 and burst rows: direct c=1; paced: direct paced; c=N: direct c=N).',
              '',
              ...formatComparison(report.comparisons, peerStatus),
            ]),
        ...(dbLine ? [dbLine] : []),
        ...formatBackends(rows),
        ...formatGc(rows),
        ...formatWal(rows),
        '',
        'Ledger check:',
        ...check.lines.map((l) => `  ${l}`),
        '',
        shutdown.killed
          ? `WARNING: Tollgate did not exit within ${(shutdown.ms / 1000).toFixed(1)} s of SIGTERM (killed)`
          : `Tollgate shut down in ${(shutdown.ms / 1000).toFixed(1)} s (${shutdown.signal ? `signal ${shutdown.signal}` : `exit code ${shutdown.exitCode}`})`,
        '',
        check.pass ? 'PASS' : 'FAIL',
        `(JSON: ${path.relative(process.cwd(), o.out)})`,
        '',
      ].join('\n'),
    );
    if (report.tollgateOutput) log(`Tollgate wrote (warn and above):\n${report.tollgateOutput}`);
    return check.pass ? 0 : 1;
  } catch (error) {
    const output = tollgateOutput();
    if (output) log(`Tollgate wrote:\n${output}`);
    throw error;
  } finally {
    await cleanup();
  }
}

function describePeer(peer: PeerStatus): string {
  const what = `${peer.name} (${peer.package} ${peer.version})`;
  if (peer.state !== 'measured') return `${what} ${peer.state}: ${peer.reason ?? 'unknown'}`;
  const runtime = Object.entries(peer.runtime ?? {})
    .filter(([name]) => name !== peer.package)
    .map(([name, version]) => `${name} ${version}`);
  return `${what}${runtime.length ? ` on ${runtime.join(', ')}` : ''}, from ${peer.dir}`;
}

function perCompletion(
  before: DbStats | undefined,
  after: DbStats | undefined,
  completions: number,
): Report['dbPerCompletion'] {
  if (!before || !after || completions === 0) return undefined;
  const per = (k: Exclude<keyof DbStats, 'functions'>) => (after[k] - before[k]) / completions;
  const functions = Object.entries(after.functions)
    .map(([name, f]) => {
      const was = before.functions[name] ?? { calls: 0, selfMs: 0, totalMs: 0 };
      return {
        name,
        calls: (f.calls - was.calls) / completions,
        selfUs: ((f.selfMs - was.selfMs) * 1000) / completions,
        totalUs: ((f.totalMs - was.totalMs) * 1000) / completions,
      };
    })
    .filter((f) => f.calls > 0)
    .sort((a, b) => b.selfUs - a.selfUs);
  return {
    completions,
    functions,
    transactions: per('transactions'),
    inserted: per('inserted'),
    updated: per('updated'),
    deleted: per('deleted'),
    returned: per('returned'),
  };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench failed:', error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../src/db/data-source';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../src/db/embedded';
import { migrate } from '../src/db/migrate';
import { BudgetService } from '../src/modules/budgets/budget.service';
import { LocalEventBus } from '../src/modules/events/event-bus';
import { AuthService } from '../src/modules/projects/auth.service';
import { ProjectService } from '../src/modules/projects/project.service';
import type { CatalogService } from '../src/modules/providers/catalog.service';
import type { Model } from '../src/modules/providers/model.entity';
import { RoutingReportService } from '../src/modules/routing/routing-report.service';
import { UsageService } from '../src/modules/usage/usage.service';
import { UsageStorage } from '../src/modules/usage/usage-storage';
import { parseUsd } from '../src/shared/money';
import { gitDescribe, withClient } from './tollgate';

/**
 * `npm run bench -- --reads N [--runs R] [--keep] [--db NAME] [--no-raw]`: whether the dashboard's
 * reads stay flat as the ledger grows. Seeds N usage records spread evenly over the 90 days before
 * now into a fresh database (DATABASE_URL's server; without it the embedded PGlite), through the
 * real insert path's triggers (generate_series, 500,000 records per statement, so the rollup
 * triggers sum each statement's records), folds the rollups, VACUUM ANALYZE, then times the
 * console's queries through the real services, in process: usage by MODEL and by DAY and the
 * routing report over the last 30 UTC days (the console's date range), the same over [now - 30
 * days, now) (partial hours at both edges, read from the records), the spend projection, the
 * ledger's first page, and the console's usage page as it asks (30 per-day usage queries for the
 * chart, the three tables, the routing report). Each is run once to warm up, then R times
 * (default 7): median, min, max. Beside each, the pre-rollup query (the records summed) on the
 * same data, unless --no-raw. --keep leaves the database (its name is printed); --db NAME reuses
 * one kept before (seeding only what is missing). JSON in .bench/reads-N.json.
 *
 * The data: one project, 6 API keys, 9 routes (3 tiers and explicit calls over 8 chat models)
 * plus an embedding model; 93% SUCCESS, 4% UPSTREAM_ERROR, 2% CANCELLED, 1% ABANDONED; 0.5%
 * unpriced; ids in time order (as UUIDv7 would be).
 */

const CHUNK = 500_000;
const DAY_MS = 86_400_000;
const SPAN_DAYS = 90;
const PROJECT_NAME = 'bench-reads';

/** [tier, model, provider, prompt $/M, cached $/M, completion $/M]; the last is the embedding model. */
const ROUTES: [string | null, string, string, string, string, string][] = [
  ['SIMPLE', 'gpt-4o-mini', 'openai', '0.15', '0.075', '0.6'],
  ['SIMPLE', 'deepseek-chat', 'deepseek', '0.14', '0.014', '0.42'],
  ['MEDIUM', 'gpt-4o', 'openai', '2.5', '1.25', '10'],
  ['MEDIUM', 'claude-haiku-4-5', 'anthropic', '1', '0.1', '5'],
  ['COMPLEX', 'claude-sonnet-4-5', 'anthropic', '3', '0.3', '15'],
  ['COMPLEX', 'o3', 'openai', '2', '0.5', '8'],
  [null, 'gpt-4.1', 'openai', '2', '0.5', '8'],
  [null, 'claude-opus-4-1', 'anthropic', '15', '1.5', '75'],
  [null, 'text-embedding-3-small', 'openai', '0.02', '0.02', '0'],
];

interface Timing {
  name: string;
  median: number;
  min: number;
  max: number;
  runs: number;
  /** The same figures by the pre-rollup query (the records summed), when measured. */
  raw?: { median: number; min: number; max: number; runs: number };
}

export async function runReads(argv: string[] = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      reads: { type: 'string' },
      runs: { type: 'string', default: '7' },
      keep: { type: 'boolean', default: false },
      db: { type: 'string' },
      'no-raw': { type: 'boolean', default: false },
    },
  });
  const n = Number(values.reads);
  const runs = Number(values.runs);
  if (!Number.isInteger(n) || n < 1)
    throw new Error('--reads wants a number of records, e.g. --reads 3000000');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs wants a positive integer');
  const t0 = performance.now();
  const log = (line: string) =>
    process.stderr.write(`[reads ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);

  const target = await openDatabase(n, values.db, values.keep);
  const db = createDataSource(target.url, 4);
  try {
    await db.initialize();
    await migrate(db, !target.embedded);
    const projectId = await benchProject(db);
    const existing = await countRecords(db, projectId);
    const seedMs = existing < n ? await seed(db, target, projectId, existing, n, log) : 0;
    if (existing >= n) log(`reusing ${existing.toLocaleString('en-US')} records in ${target.name}`);
    const budgets = new BudgetService(db);
    let budgetMs = 0;
    if ((await budgets.list(projectId)).length === 0) {
      const started = performance.now();
      await budgets.create(projectId, { period: 'DAILY', limitUsd: '5000' });
      await budgets.create(projectId, { period: 'MONTHLY', limitUsd: '100000' });
      budgetMs = performance.now() - started;
      log(`two budgets created (each starts from the ledger's current window) in ${budgetMs.toFixed(0)} ms`);
    }
    const sizes = await measureSizes(db, projectId);
    log(
      `${sizes.records.toLocaleString('en-US')} records, ${sizes.rollupRows.toLocaleString('en-US')} rollup rows; database ${sizes.database}`,
    );
    const timings = await timeQueries(db, projectId, runs, !values['no-raw'], log);
    const report = {
      date: new Date().toISOString(),
      code: gitDescribe(path.resolve(__dirname, '..')) ?? 'unknown',
      database: target.embedded ? 'embedded PGlite' : `${await serverVersion(db)} (${target.name})`,
      records: n,
      seedMs: Math.round(seedMs),
      budgetsCreatedMs: Math.round(budgetMs),
      sizes,
      runs,
      timings,
    };
    process.stdout.write(formatReads(report));
    const out = path.resolve(`.bench/reads-${n}.json`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(report, null, 2));
    log(`wrote ${out}`);
    return 0;
  } finally {
    if (db.isInitialized) await db.destroy();
    await target.close();
    if (target.kept) log(`kept database ${target.name}: --db ${target.name} reuses it`);
  }
}

interface Target {
  url: string;
  name: string;
  embedded: boolean;
  kept: boolean;
  close(): Promise<void>;
}

/** A fresh database (dropped at the end unless kept), the one --db names, or a temporary PGlite. */
async function openDatabase(n: number, reuse: string | undefined, keep: boolean): Promise<Target> {
  const admin = process.env.DATABASE_URL;
  if (!admin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-reads-'));
    const embedded: EmbeddedDatabase = await startEmbeddedDatabase(path.join(dir, 'pgdata'), 4);
    return {
      url: embedded.url,
      name: dir,
      embedded: true,
      kept: false,
      close: async () => {
        await embedded.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = reuse ?? `tollgate_reads_${n}_${crypto.randomBytes(3).toString('hex')}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`--db wants a plain database name, got "${name}"`);
  if (!reuse) await withClient(admin, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const kept = keep || reuse !== undefined;
  return {
    url: url.toString(),
    name,
    embedded: false,
    kept,
    close: async () => {
      if (!kept) await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

async function benchProject(db: DataSource): Promise<string> {
  const [found] = (await db.query(`SELECT id FROM projects WHERE name = $1`, [PROJECT_NAME])) as {
    id: string;
  }[];
  if (found) return found.id;
  const projects = new ProjectService(db, new AuthService(db, undefined), new LocalEventBus());
  const { project } = await projects.createProject(PROJECT_NAME);
  for (let i = 1; i <= 6; i++) await projects.createApiKey(project.id, `app-${i}`, 'CLIENT', {});
  return project.id;
}

async function countRecords(db: DataSource, projectId: string): Promise<number> {
  const [row] = (await db.query(`SELECT count(*)::bigint AS n FROM usage_records WHERE project_id = $1`, [
    projectId,
  ])) as { n: string }[];
  return Number(row!.n);
}

/**
 * Records `from` to n - 1 of n spread evenly over the 90 days before now, CHUNK per statement on
 * a connection of its own (synchronous_commit off: a bench database), then the rollups folded and
 * both tables vacuumed and analyzed. Returns how long it took (ms).
 */
async function seed(
  db: DataSource,
  target: Target,
  projectId: string,
  from: number,
  n: number,
  log: (line: string) => void,
): Promise<number> {
  const started = performance.now();
  const keys = (
    (await db.query(`SELECT id FROM api_keys WHERE project_id = $1 ORDER BY name`, [projectId])) as {
      id: string;
    }[]
  ).map((k) => k.id);
  // every record's time: the same instant for the whole seed, so a reused database lines up
  const [{ start }] = (await db.query(
    `SELECT coalesce((SELECT min(created_at) FROM usage_records WHERE project_id = $1), now() - $2 * interval '1 day') AS start`,
    [projectId, SPAN_DAYS],
  )) as [{ start: Date }];
  const stepUs = Math.floor((SPAN_DAYS * DAY_MS * 1000) / n);
  const routes = ROUTES.map(
    ([tier, model, provider, prompt, cached, completion], i) =>
      `(${i}, ${tier ? `'${tier}'` : 'NULL'}, '${model}', '${provider}', ${prompt}::numeric, ${cached}::numeric, ${completion}::numeric)`,
  ).join(', ');
  const sql = `
    INSERT INTO usage_records (id, project_id, api_key_id, request_id, kind, model_requested, model_served, provider,
                               route_tier, prompt_tokens, completion_tokens, total_tokens, cached_prompt_tokens,
                               cache_write_tokens, reasoning_tokens, cost, cache_savings, priced, gateway_latency_ms,
                               upstream_latency_ms, attempts, outcome, error_code, created_at)
    SELECT lpad(to_hex(c.g), 32, '0')::uuid, $1, ($2::uuid[])[1 + c.h % 6], 'bench-' || c.g,
           CASE WHEN r.i = 8 THEN 'EMBEDDING' ELSE 'CHAT' END, CASE WHEN r.tier IS NULL THEN r.model ELSE 'auto' END,
           r.model, r.provider, r.tier, c.prompt, c.completion, c.prompt + c.completion, c.cached, 0, c.completion / 5,
           ((c.prompt - c.cached) * r.prompt + c.cached * r.cached + c.completion * r.completion) / 1000000,
           c.cached * (r.prompt - r.cached) / 1000000, (c.h / 100003) % 200 <> 0, 40 + (c.h / 17) % 3000,
           30 + (c.h / 19) % 2500, 1, c.outcome, CASE WHEN c.outcome = 'UPSTREAM_ERROR' THEN 'UPSTREAM_ERROR' END,
           $5::timestamptz + c.g * $6 * interval '1 microsecond'
      FROM (SELECT x.g, x.h, x.outcome,
                   CASE WHEN x.outcome = 'UPSTREAM_ERROR' THEN 0 ELSE 200 + (x.h / 701) % 4000 END AS prompt,
                   CASE WHEN x.outcome = 'UPSTREAM_ERROR' THEN 0 ELSE 20 + (x.h / 3001) % 800 END AS completion,
                   CASE WHEN x.outcome = 'UPSTREAM_ERROR' THEN 0 ELSE ((x.h / 701) % 4000) / 3 END AS cached
              FROM (SELECT s.g, s.h,
                           CASE WHEN s.h / 7 % 100 < 93 THEN 'SUCCESS' WHEN s.h / 7 % 100 < 97 THEN 'UPSTREAM_ERROR'
                                WHEN s.h / 7 % 100 < 99 THEN 'CANCELLED' ELSE 'ABANDONED' END AS outcome
                      FROM (SELECT g, (g * 2654435761) % 4294967296 AS h FROM generate_series($3::bigint, $4::bigint) AS g) s) x) c
      JOIN (VALUES ${routes}) AS r(i, tier, model, provider, prompt, cached, completion)
        ON r.i = CASE WHEN c.h / 1009 % 20 = 0 THEN 8 ELSE c.h / 1013 % 8 END`;
  // a connection of its own, with commits that do not wait for the disk (a bench database)
  const client = new Client({ connectionString: target.url });
  await client.connect();
  try {
    await client.query(`SET synchronous_commit = off`);
    for (let lo = from; lo < n; lo += CHUNK) {
      const hi = Math.min(n, lo + CHUNK) - 1;
      const t = performance.now();
      await client.query(sql, [projectId, keys, lo, hi, start, stepUs]);
      const done = hi + 1;
      const rate = (hi - lo + 1) / ((performance.now() - t) / 1000);
      log(
        `seeded ${done.toLocaleString('en-US')} / ${n.toLocaleString('en-US')} (${Math.round(rate).toLocaleString('en-US')} records/s)`,
      );
    }
  } finally {
    await client.end();
  }
  const storage = new UsageStorage(db, null);
  let folded = 0;
  for (let cells = await storage.foldRollups(); cells > 0; cells = await storage.foldRollups())
    folded += cells;
  log(`folded ${folded.toLocaleString('en-US')} rollup cells; VACUUM ANALYZE`);
  await db.query(`VACUUM ANALYZE usage_records`);
  await db.query(`VACUUM ANALYZE usage_rollups`);
  return performance.now() - started;
}

async function measureSizes(db: DataSource, projectId: string) {
  const [row] = (await db.query(
    `SELECT (SELECT count(*) FROM usage_records WHERE project_id = $1)::bigint AS records,
            (SELECT count(*) FROM usage_rollups WHERE project_id = $1)::bigint AS rollup_rows,
            (SELECT count(*) FROM usage_rollups WHERE project_id = $1 AND grain = 'hour')::bigint AS hour_rows,
            pg_size_pretty(pg_database_size(current_database())) AS database,
            pg_size_pretty((SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                             WHERE i.inhparent = 'usage_records'::regclass)) AS records_size,
            pg_size_pretty((SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
                             WHERE i.inhparent = 'usage_rollups'::regclass)) AS rollups_size`,
    [projectId],
  )) as Record<string, string>[];
  return {
    records: Number(row!.records),
    rollupRows: Number(row!.rollup_rows),
    hourRows: Number(row!.hour_rows),
    database: row!.database!,
    recordsSize: row!.records_size!,
    rollupsSize: row!.rollups_size!,
  };
}

/** The console's reads, through the services, and the pre-rollup queries beside them. */
async function timeQueries(
  db: DataSource,
  projectId: string,
  runs: number,
  raw: boolean,
  log: (line: string) => void,
): Promise<Timing[]> {
  const usage = new UsageService(db);
  const budgets = new BudgetService(db);
  const [, name, , prompt, cached, completion] = ROUTES[2]!; // gpt-4o, the baseline
  const model = {
    name,
    promptPrice: parseUsd(prompt),
    cachedPromptPrice: parseUsd(cached),
    cacheWritePrice: null,
    completionPrice: parseUsd(completion),
  } as Model;
  // The catalog only looks the baseline model up (a cached map in the app): a stand-in here.
  const routing = new RoutingReportService(db, {
    catalog: async () => ({ providers: new Map(), models: new Map([[model.name, model]]) }),
  } as unknown as CatalogService);
  const now = Date.now();
  const tomorrow = Math.floor(now / DAY_MS) * DAY_MS + DAY_MS;
  const days = { from: new Date(tomorrow - 30 * DAY_MS), to: new Date(tomorrow) }; // the console's 30 UTC days
  const rolling = { from: new Date(now - 30 * DAY_MS), to: new Date(now) }; // partial hours at both edges

  const rawUsage = (range: { from: Date; to: Date }, group: string) => () =>
    db.query(
      `SELECT ${group} AS key, count(*) AS requests, sum(prompt_tokens) AS prompt_tokens,
              sum(completion_tokens) AS completion_tokens, sum(cached_prompt_tokens) AS cached_prompt_tokens,
              sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens,
              sum(cost) AS cost, sum(cache_savings) AS cache_savings
         FROM usage_records
        WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 AND ($4::uuid IS NULL OR api_key_id = $4)
        GROUP BY 1 ORDER BY 1`,
      [projectId, range.from, range.to, null],
    );
  const rawRouting = (range: { from: Date; to: Date }) => () =>
    db.query(
      `SELECT coalesce(route_tier, 'EXPLICIT') AS tier, model_served AS model,
              count(*) FILTER (WHERE ok) AS requests, count(*) FILTER (WHERE NOT ok) AS failures,
              count(*) FILTER (WHERE ok AND NOT priced) AS unpriced,
              coalesce(sum(prompt_tokens) FILTER (WHERE ok), 0) AS prompt_tokens,
              coalesce(sum(completion_tokens) FILTER (WHERE ok), 0) AS completion_tokens,
              coalesce(sum(cached_prompt_tokens) FILTER (WHERE ok), 0) AS cached_prompt_tokens,
              coalesce(sum(cache_write_tokens) FILTER (WHERE ok), 0) AS cache_write_tokens,
              coalesce(sum(cost) FILTER (WHERE ok), 0) AS cost,
              coalesce(sum(cache_savings) FILTER (WHERE ok), 0) AS cache_savings,
              coalesce(sum(prompt_tokens) FILTER (WHERE ok AND priced), 0) AS priced_prompt,
              coalesce(sum(cached_prompt_tokens) FILTER (WHERE ok AND priced), 0) AS priced_cached,
              coalesce(sum(cache_write_tokens) FILTER (WHERE ok AND priced), 0) AS priced_writes,
              coalesce(sum(completion_tokens) FILTER (WHERE ok AND priced), 0) AS priced_completion,
              coalesce(sum(cost) FILTER (WHERE ok AND priced), 0) AS priced_cost,
              coalesce(sum(gateway_latency_ms) FILTER (WHERE ok), 0) AS latency,
              coalesce(sum(upstream_latency_ms) FILTER (WHERE ok), 0) AS upstream_latency
         FROM (SELECT *, outcome = 'SUCCESS' AS ok FROM usage_records
                WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 AND kind = 'CHAT') u
        GROUP BY 1, 2 ORDER BY 1, 2`,
      [projectId, range.from, range.to],
    );
  const totals = (range: { from: Date; to: Date }, groupBy: 'MODEL' | 'DAY' | 'API_KEY' | 'ROUTE') => () =>
    usage.totals(projectId, { ...range, groupBy });
  const report = (range: { from: Date; to: Date }) => () =>
    routing.report(projectId, range.from, range.to, model.name);
  /** The console's usage page: the chart (one usage(MODEL) per day), the three tables, the routing report. */
  const usagePage = async () => {
    for (let d = days.from.getTime(); d < days.to.getTime(); d += DAY_MS) {
      await usage.totals(projectId, { from: new Date(d), to: new Date(d + DAY_MS), groupBy: 'MODEL' });
    }
    await totals(days, 'MODEL')();
    await totals(days, 'API_KEY')();
    await totals(days, 'ROUTE')();
    await report(days)();
  };

  const cases: [string, () => Promise<unknown>, (() => Promise<unknown>) | undefined][] = [
    ['usage by MODEL, last 30 UTC days', totals(days, 'MODEL'), rawUsage(days, 'model_served')],
    [
      'usage by DAY, last 30 UTC days',
      totals(days, 'DAY'),
      rawUsage(days, "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    ],
    ['routingReport, last 30 UTC days', report(days), rawRouting(days)],
    ['usage by MODEL, [now-30d, now)', totals(rolling, 'MODEL'), rawUsage(rolling, 'model_served')],
    [
      'usage by DAY, [now-30d, now)',
      totals(rolling, 'DAY'),
      rawUsage(rolling, "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    ],
    ['routingReport, [now-30d, now)', report(rolling), rawRouting(rolling)],
    ['spendProjection (2 budgets)', () => budgets.statuses(projectId), undefined],
    ['usageRecords, first page of 50', () => usage.page(projectId, 50, null), undefined],
    ['console usage page (34 queries)', usagePage, undefined],
  ];
  const timings: Timing[] = [];
  for (const [name, rolled, before] of cases) {
    const timing: Timing = { name, ...(await timeRuns(rolled, runs)) };
    if (raw && before) timing.raw = await timeRuns(before, Math.min(runs, 3));
    log(
      `${name}: ${timing.median.toFixed(1)} ms${timing.raw ? ` (records summed: ${timing.raw.median.toFixed(0)} ms)` : ''}`,
    );
    timings.push(timing);
  }
  return timings;
}

/** One run to warm up, then `runs` timed: median, min and max in ms. */
async function timeRuns(fn: () => Promise<unknown>, runs: number) {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await fn();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, min: ms[0]!, max: ms.at(-1)!, runs };
}

function formatReads(r: {
  date: string;
  code: string;
  database: string;
  records: number;
  seedMs: number;
  budgetsCreatedMs: number;
  sizes: Awaited<ReturnType<typeof measureSizes>>;
  runs: number;
  timings: Timing[];
}): string {
  const fmt = (ms: number) => (ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
  const lines = [
    `reads bench: ${r.records.toLocaleString('en-US')} records over ${SPAN_DAYS} days, ${r.date}, code ${r.code}, ${r.database}`,
    `  usage_records ${r.sizes.recordsSize}, usage_rollups ${r.sizes.rollupsSize} (${r.sizes.rollupRows.toLocaleString('en-US')} rows, ${r.sizes.hourRows.toLocaleString('en-US')} hourly), database ${r.sizes.database}` +
      (r.seedMs ? `; seeded in ${(r.seedMs / 1000).toFixed(0)} s` : '') +
      (r.budgetsCreatedMs ? `; 2 budgets created in ${fmt(r.budgetsCreatedMs)} ms` : ''),
    '',
    `${'query'.padEnd(36)}  ${'median ms'.padStart(9)}  ${'min-max ms'.padStart(13)}  ${'records summed (pre-rollup) ms'.padStart(30)}`,
    `${'-'.repeat(36)}  ${'-'.repeat(9)}  ${'-'.repeat(13)}  ${'-'.repeat(30)}`,
  ];
  for (const t of r.timings) {
    const raw = t.raw ? `${fmt(t.raw.median)} (${fmt(t.raw.min)}-${fmt(t.raw.max)})` : '-';
    lines.push(
      `${t.name.padEnd(36)}  ${fmt(t.median).padStart(9)}  ${`${fmt(t.min)}-${fmt(t.max)}`.padStart(13)}  ${raw.padStart(30)}`,
    );
  }
  lines.push(
    '',
    `median of ${r.runs} runs after one to warm up (pre-rollup: of up to 3); in process, through UsageService, RoutingReportService and BudgetService`,
    '',
  );
  return lines.join('\n');
}

async function serverVersion(db: DataSource): Promise<string> {
  const [row] = (await db.query(`SHOW server_version`)) as { server_version: string }[];
  return `PostgreSQL ${row!.server_version.split(' ')[0]}`;
}

import crypto from 'node:crypto';
import { Client } from 'pg';
import type { UsageRow } from '../../src/modules/budgets/ledger.types';
import type { CatalogService } from '../../src/modules/providers/catalog.service';
import type { Model } from '../../src/modules/providers/model.entity';
import { priceUsage } from '../../src/modules/providers/pricing';
import { average, RoutingReportService } from '../../src/modules/routing/routing-report.service';
import { UsageGroupBy, UsageService, type UsageGroup } from '../../src/modules/usage/usage.service';
import { UsageStorage } from '../../src/modules/usage/usage-storage';
import type { AlertService } from '../../src/modules/alerts/alert.service';
import type { MetricsPublisher } from '../../src/modules/budgets/metrics.publisher';
import type { Logger } from '../../src/shared/logger';
import { Sweeper } from '../../src/sweeper';
import { formatUsd, parseUsd, type Pico } from '../../src/shared/money';
import { abandonedRow, InProcess, usageRow } from '../support/in-process';
import { rollupDrift, rollupRows } from '../support/rollups';

/**
 * The hourly and daily rollups of usage (usage_rollups, kept by triggers on usage_records) and the
 * monthly partitions of usage_records, below the API: the rollups equal the records' sums through
 * every way the ledger writes and deletes records, folding changes no figure, reports over ranges
 * with partial hours equal the same reports computed from the records alone, and retention drops
 * old records while the reports over their time still answer.
 */
type Tenant = { projectId: string; keyId: string };

interface RouteRecord {
  tier: string;
  model: string;
  outcome: string;
  priced: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  cached_prompt_tokens: number;
  cache_write_tokens: number;
  cost: string;
  cache_savings: string;
  gateway_latency_ms: number;
  upstream_latency_ms: number;
}

describe('usage rollups and partitions (in process, migrated database)', () => {
  let t: InProcess;
  let storage: UsageStorage;

  beforeAll(async () => {
    t = await InProcess.start();
    storage = new UsageStorage(t.db, null);
  }, 120_000);
  afterAll(() => t.close());

  /** Writes a record as the ledger does, at `at` (a settle's time is now(); given here to place it). */
  const write = async (row: Partial<UsageRow> & Pick<UsageRow, 'project_id'>, at?: Date) => {
    const full = { ...usageRow({ projectId: row.project_id, keyId: crypto.randomUUID() }, 'r', 0n), ...row };
    const [r] = (await t.db.query(`SELECT * FROM tollgate_insert_usage($1::jsonb)`, [
      JSON.stringify(at ? { ...full, created_at: at.toISOString() } : full),
    ])) as { id: string; inserted: boolean }[];
    return r!;
  };

  describe('the rollups equal the records, however the ledger writes them', () => {
    it('through settles, partial settles, failures, ABANDONED placeholders replaced and superseded, before and after folding', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '100' });
      const free = await t.tenant(); // no budget: settles without a reservation
      const hold = (who: Tenant, requestId: string, usd: string) =>
        t.reservations.reserveHold({
          projectId: who.projectId,
          apiKeyId: who.keyId,
          requestId,
          amount: parseUsd(usd),
          abandoned: abandonedRow(),
        });

      // answered calls, with every token class, a route tier and an embedding
      const ok = await hold(tenant, 'ok', '1');
      await t.reservations.recordUsage(ok, {
        ...usageRow(tenant, 'ok', parseUsd('0.0123'), { prompt: 900, completion: 80 }),
        route_tier: 'COMPLEX',
        cached_prompt_tokens: 400,
        cache_write_tokens: 100,
        reasoning_tokens: 30,
        cache_savings: '0.0004',
        gateway_latency_ms: 12,
        upstream_latency_ms: 9,
      });
      const embedding = await hold(tenant, 'embed', '0.1');
      await t.reservations.recordUsage(embedding, {
        ...usageRow(tenant, 'embed', parseUsd('0.0001'), { prompt: 50, completion: 0 }),
        kind: 'EMBEDDING',
        model_served: 'text-embedding-3-small',
      });
      // a stream the client left (charged what was passed on) and one that broke upstream
      const cancelled = await hold(tenant, 'cancelled', '1');
      await t.reservations.recordUsage(cancelled, {
        ...usageRow(tenant, 'cancelled', parseUsd('0.002'), { prompt: 100, completion: 7 }),
        outcome: 'CANCELLED',
      });
      const broken = await hold(tenant, 'broken', '1');
      await t.reservations.recordUsage(broken, {
        ...usageRow(tenant, 'broken', parseUsd('0.003'), { prompt: 100, completion: 9 }),
        outcome: 'UPSTREAM_ERROR',
        error_code: 'UPSTREAM_UNAVAILABLE',
      });
      // a failure: the hold given back, the attempt recorded at $0
      const failed = await hold(tenant, 'failed', '1');
      await t.reservations.releaseHold(failed, {
        ...usageRow(tenant, 'failed', 0n, { prompt: 0, completion: 0 }),
        outcome: 'UPSTREAM_ERROR',
        error_code: 'UPSTREAM_ERROR',
      });
      // a served model with no price
      const unpriced = await hold(tenant, 'unpriced', '1');
      await t.reservations.recordUsage(unpriced, {
        ...usageRow(tenant, 'unpriced', 0n),
        model_served: 'mystery-model',
        priced: false,
        price_note: 'no price',
      });
      // no budget: no reservation; the same settle retried (a lost connection) writes one record
      const row = usageRow(free, 'free', parseUsd('0.5'));
      await t.reservations.recordUsage({ id: null, amount: 0n, budgets: [] }, row);
      await t.reservations.recordUsage({ id: null, amount: 0n, budgets: [] }, row);
      // a dead call charged at its worst case, then its real settle replaces the placeholder
      const late = await hold(tenant, 'late', '0.7');
      expect(await t.reservations.abandonHoldsOf(tenant.projectId, 'late')).toMatchObject({ abandoned: 1 });
      const midway = await rollupDrift(t.db, [tenant.projectId, free.projectId]);
      expect(midway).toEqual([]);
      await t.reservations.recordUsage(late, usageRow(tenant, 'late', parseUsd('0.06')));
      // a dead call whose requestId is retried: the retry supersedes its placeholder
      await hold(tenant, 'retried', '0.4');
      expect(await t.reservations.abandonHoldsOf(tenant.projectId, 'retried')).toMatchObject({
        abandoned: 1,
      });
      const retry = await hold(tenant, 'retried', '0.4');
      await t.reservations.recordUsage(retry, usageRow(tenant, 'retried', parseUsd('0.1')), {
        supersede: true,
      });

      const projects = [tenant.projectId, free.projectId];
      const [records] = (await t.db.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE outcome = 'ABANDONED')::int AS abandoned
           FROM usage_records WHERE project_id = ANY($1)`,
        [projects],
      )) as { n: number; abandoned: number }[];
      expect(records).toEqual({ n: 9, abandoned: 0 });
      expect(await rollupDrift(t.db, projects)).toEqual([]);
      // each of the 11 records written added a row for its hour and one for its day, and each of the
      // 2 placeholders deleted added them again, negated
      expect(await rollupRows(t.db, projects)).toEqual({ rows: 2 * (11 + 2), unfolded: 26 });

      await storage.foldRollups();
      expect(await rollupDrift(t.db, projects)).toEqual([]);
      const folded = await rollupRows(t.db, projects);
      expect(folded.unfolded).toBe(0);
      // one row per combination in each hour and day: the ABANDONED ones summed to nothing and went
      const [cells] = (await t.db.query(
        `SELECT count(*)::int AS n FROM (
           SELECT DISTINCT g.grain, date_trunc(g.grain, created_at, 'UTC'), project_id, api_key_id, kind,
                  model_served, route_tier, outcome, priced
             FROM usage_records CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain) WHERE project_id = ANY($1)) c`,
        [projects],
      )) as { n: number }[];
      expect(folded.rows).toBe(cells!.n);
      expect(await storage.foldRollups()).toBe(0);
    });

    it('a settle retried while its first try is still in the database waits for it, and writes one record', async () => {
      const free = await t.tenant();
      const row = usageRow(free, 'twice', parseUsd('0.25'));
      if (t.embedded) {
        // one connection: the retry can only come after the first try
        expect(await write(row)).toMatchObject({ inserted: true });
        expect(await write(row)).toMatchObject({ inserted: false });
      } else {
        const first = new Client({ connectionString: dbUrl(t) });
        const second = new Client({ connectionString: dbUrl(t) });
        await first.connect();
        await second.connect();
        try {
          await first.query('BEGIN');
          await first.query(`SELECT * FROM tollgate_insert_usage($1::jsonb)`, [JSON.stringify(row)]);
          let settled = false;
          const retried = second
            .query<{ inserted: boolean }>(`SELECT * FROM tollgate_insert_usage($1::jsonb)`, [
              JSON.stringify(row),
            ])
            .finally(() => (settled = true));
          await new Promise((r) => setTimeout(r, 300));
          expect(settled).toBe(false); // waiting on the first try's lock
          await first.query('COMMIT');
          expect((await retried).rows).toEqual([expect.objectContaining({ inserted: false })]);
        } finally {
          await first.end();
          await second.end();
        }
      }
      const [n] = (await t.db.query(`SELECT count(*)::int AS n FROM usage_records WHERE id = $1`, [
        row.id,
      ])) as { n: number }[];
      expect(n!.n).toBe(1);
      expect(await rollupDrift(t.db, [free.projectId])).toEqual([]);
    });
  });

  describe('reports over ranges with partial hours equal the records summed', () => {
    const base = Date.UTC(2026, 5, 10, 0, 0, 0); // 10 June 2026, a month with no partition yet
    const span = 3 * 86_400_000 + 5 * 3_600_000;
    let tenant: Tenant;
    let otherKey: string;
    const usage = () => new UsageService(t.db);
    const baseline = {
      name: 'baseline',
      promptPrice: parseUsd('2.5'),
      completionPrice: parseUsd('10'),
      cachedPromptPrice: parseUsd('1.25'),
      cacheWritePrice: null,
    } as Model;
    const routing = () =>
      new RoutingReportService(t.db, {
        catalog: async () => ({ providers: new Map(), models: new Map([['baseline', baseline]]) }),
      } as unknown as CatalogService);

    beforeAll(async () => {
      tenant = await t.tenant();
      otherKey = (await t.projects.createApiKey(tenant.projectId, 'other', 'CLIENT', {})).apiKey.id;
      const random = mulberry32(14);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const ids: string[] = [];
      const writeSome = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const at = new Date(base + Math.floor(random() * span));
          const prompt = 1 + Math.floor(random() * 5000);
          const cached = Math.floor(random() * prompt * 0.5);
          const completion = Math.floor(random() * 800);
          const kind = random() < 0.1 ? 'EMBEDDING' : 'CHAT';
          const r = await write(
            {
              project_id: tenant.projectId,
              api_key_id: pick([tenant.keyId, otherKey, null]),
              request_id: `q${i}`,
              kind,
              model_served: kind === 'EMBEDDING' ? 'embed' : pick(['small', 'medium', 'large']),
              route_tier: kind === 'EMBEDDING' ? null : pick([null, 'SIMPLE', 'MEDIUM', 'COMPLEX']),
              outcome: pick(['SUCCESS', 'SUCCESS', 'SUCCESS', 'UPSTREAM_ERROR', 'CANCELLED', 'ABANDONED']),
              priced: random() > 0.05,
              prompt_tokens: prompt,
              completion_tokens: completion,
              total_tokens: prompt + completion,
              cached_prompt_tokens: cached,
              cache_write_tokens: Math.floor(random() * (prompt - cached) * 0.2),
              reasoning_tokens: Math.floor(completion * random() * 0.3),
              cost: formatUsd(BigInt(Math.floor(random() * 1e9)) * 1000n + 1n),
              cache_savings: formatUsd(BigInt(Math.floor(random() * 1e6)) - 100_000n),
              gateway_latency_ms: Math.floor(random() * 3000),
              upstream_latency_ms: Math.floor(random() * 2000),
            },
            at,
          );
          ids.push(r.id);
        }
      };
      await writeSome(300);
      await storage.foldRollups(); // some rows folded, the next ones not
      await writeSome(300);
      // placeholders deleted again (as a settle or a retry replaces them)
      await t.db.query(`DELETE FROM usage_records WHERE id = ANY($1) AND outcome = 'ABANDONED'`, [
        ids.filter((_, i) => i % 3 === 0),
      ]);
      // June had no partition: its records waited in the default partition, and move into their own
      expect(await storage.addPartitions()).toEqual(['usage_records_y2026m06']);
      const [where] = (await t.db.query(
        `SELECT count(*) FILTER (WHERE tableoid = 'usage_records_y2026m06'::regclass)::int AS june,
                count(*) FILTER (WHERE tableoid = 'usage_records_default'::regclass)::int AS "default"
           FROM usage_records WHERE project_id = $1`,
        [tenant.projectId],
      )) as { june: number; default: number }[];
      expect(where!.default).toBe(0);
      expect(where!.june).toBeGreaterThan(500);
      expect(await rollupDrift(t.db, [tenant.projectId])).toEqual([]);
    }, 120_000);

    /** Ranges of every shape: whole days, whole hours, partial hours at either edge, inside one hour. */
    const ranges = (): [Date, Date][] => {
      const at = (ms: number) => new Date(base + ms);
      const H = 3_600_000;
      const D = 24 * H;
      const fixed: [number, number][] = [
        [-D, span + D], // all of it, whole days
        [0, D], // one whole day
        [D, 3 * D], // two whole days
        [2 * H, 5 * H], // whole hours, no whole day
        [17 * 60_000 + 23_456, 2 * D + 13 * H + 42 * 60_000 + 1], // partial hours and whole days
        [5 * H + 1, 5 * H + 59 * 60_000], // inside one hour
        [5 * H + 30 * 60_000, 6 * H + 30 * 60_000], // across one hour boundary, no whole hour
        [23 * H + 59 * 60_000, D + 1], // across midnight, a minute and a millisecond
        [D - 30 * 60_000, 2 * D + 90 * 60_000], // half hours at both edges, whole hours, a whole day
      ];
      const random = mulberry32(7);
      for (let i = 0; i < 12; i++) {
        const a = Math.floor(random() * span);
        const b = a + 1 + Math.floor(random() * (span - a));
        fixed.push([a, b]);
      }
      return fixed.map(([a, b]) => [at(a), at(b)]);
    };

    it('usage: every grouping, with and without a key, over every shape of range', async () => {
      for (const [from, to] of ranges()) {
        for (const groupBy of Object.values(UsageGroupBy)) {
          for (const apiKeyId of [null, tenant.keyId]) {
            const got = await usage().totals(tenant.projectId, { from, to, groupBy, apiKeyId });
            const want = await totalsFromRecords(tenant.projectId, from, to, groupBy, apiKeyId);
            expect({ from, to, groupBy, apiKeyId, groups: got }).toEqual({
              from,
              to,
              groupBy,
              apiKeyId,
              groups: want,
            });
          }
        }
      }
    });

    it('routingReport: routes, counts, tokens, cost and the baseline priced class by class', async () => {
      for (const [from, to] of ranges()) {
        const got = await routing().report(tenant.projectId, from, to, 'baseline');
        const want = await routesFromRecords(tenant.projectId, from, to, baseline);
        expect({ from, to, routes: got.routes }).toEqual({ from, to, routes: want });
        expect(got.requests).toBe(want.reduce((n, r) => n + r.requests, 0));
        expect(got.baselineCost).toBe(want.reduce((n, r) => n + r.baselineCost, 0n));
      }
    });

    /** The pre-rollup query: the records themselves. */
    async function totalsFromRecords(
      projectId: string,
      from: Date,
      to: Date,
      groupBy: UsageGroupBy,
      apiKeyId: string | null,
    ): Promise<UsageGroup[]> {
      const group = {
        MODEL: 'model_served',
        DAY: "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        API_KEY: "coalesce(api_key_id::text, '')",
        ROUTE: "coalesce(route_tier, 'EXPLICIT') || ':' || model_served",
        KIND: 'kind',
      }[groupBy];
      const rows = (await t.db.query(
        `SELECT ${group} AS key, count(*) AS requests, sum(prompt_tokens) AS prompt_tokens,
                sum(completion_tokens) AS completion_tokens, sum(cached_prompt_tokens) AS cached_prompt_tokens,
                sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens,
                sum(cost) AS cost, sum(cache_savings) AS cache_savings
           FROM usage_records
          WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 AND ($4::uuid IS NULL OR api_key_id = $4)
          GROUP BY 1 ORDER BY 1`,
        [projectId, from, to, apiKeyId],
      )) as Record<string, string>[];
      return rows.map((r) => ({
        key: r.key!,
        requests: Number(r.requests),
        promptTokens: Number(r.prompt_tokens),
        completionTokens: Number(r.completion_tokens),
        totalTokens: Number(r.prompt_tokens) + Number(r.completion_tokens),
        cachedPromptTokens: Number(r.cached_prompt_tokens),
        cacheWriteTokens: Number(r.cache_write_tokens),
        reasoningTokens: Number(r.reasoning_tokens),
        cost: parseUsd(r.cost!),
        cacheSavings: parseUsd(r.cache_savings!),
      }));
    }

    /** The routes computed call by call from the records, as the report defines them. */
    async function routesFromRecords(projectId: string, from: Date, to: Date, model: Model) {
      const records = (await t.db.query(
        `SELECT coalesce(route_tier, 'EXPLICIT') AS tier, model_served AS model, outcome, priced, prompt_tokens,
                completion_tokens, cached_prompt_tokens, cache_write_tokens, cost::text AS cost,
                cache_savings::text AS cache_savings, gateway_latency_ms, upstream_latency_ms
           FROM usage_records WHERE project_id = $1 AND created_at >= $2 AND created_at < $3 AND kind = 'CHAT'`,
        [projectId, from, to],
      )) as RouteRecord[];
      const routes = new Map<string, typeof records>();
      for (const r of records) {
        const key = `${r.tier}:${r.model}`;
        routes.set(key, [...(routes.get(key) ?? []), r]);
      }
      return [...routes.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([key, calls]) => {
          const ok = calls.filter((c) => c.outcome === 'SUCCESS');
          const priced = ok.filter((c) => c.priced);
          const sum = (list: typeof calls, pick: (c: (typeof calls)[number]) => number) =>
            list.reduce((n, c) => n + pick(c), 0);
          const money = (list: typeof calls, pick: (c: (typeof calls)[number]) => string) =>
            list.reduce((n, c) => n + parseUsd(pick(c)), 0n);
          const cost = money(ok, (c) => c.cost);
          const baselineCost: Pico = priceUsage(
            {
              prompt: sum(priced, (c) => c.prompt_tokens),
              cachedPrompt: sum(priced, (c) => c.cached_prompt_tokens),
              cacheWrite: sum(priced, (c) => c.cache_write_tokens),
              completion: sum(priced, (c) => c.completion_tokens),
              reasoning: 0,
            },
            model,
          ).cost;
          return {
            key,
            tier: calls[0]!.tier,
            model: calls[0]!.model,
            requests: ok.length,
            failures: calls.length - ok.length,
            unpricedRequests: ok.length - priced.length,
            promptTokens: sum(ok, (c) => c.prompt_tokens),
            completionTokens: sum(ok, (c) => c.completion_tokens),
            cachedPromptTokens: sum(ok, (c) => c.cached_prompt_tokens),
            cacheWriteTokens: sum(ok, (c) => c.cache_write_tokens),
            cost,
            cacheSavings: money(ok, (c) => c.cache_savings),
            costPerRequest: average(cost, ok.length),
            averageLatencyMs: ok.length === 0 ? 0 : sum(ok, (c) => c.gateway_latency_ms) / ok.length,
            averageUpstreamLatencyMs: ok.length === 0 ? 0 : sum(ok, (c) => c.upstream_latency_ms) / ok.length,
            baselineCost,
            savings: baselineCost - money(priced, (c) => c.cost),
          };
        });
    }
  });

  describe('retention', () => {
    it('drops whole months of records past the retention (and old ones in the default partition); the reports over them still answer', async () => {
      const tenant = await t.tenant();
      const at = (iso: string) => new Date(iso);
      const cost = (usd: string) => ({
        cost: usd,
        prompt_tokens: 10,
        completion_tokens: 5,
        total_tokens: 15,
      });
      // March and May 2020 get partitions of their own; the April record waits in the default partition
      await write({ project_id: tenant.projectId, ...cost('1.5') }, at('2020-03-03T10:15:00Z'));
      await write({ project_id: tenant.projectId, ...cost('2.25') }, at('2020-05-20T23:59:59.999Z'));
      expect(await storage.addPartitions()).toEqual(['usage_records_y2020m03', 'usage_records_y2020m05']);
      await write({ project_id: tenant.projectId, ...cost('0.125') }, at('2020-04-11T08:30:00Z'));
      await write({ project_id: tenant.projectId, ...cost('4') }, at('2020-06-30T12:00:00Z')); // kept
      const range = { from: at('2020-01-01T00:00:00Z'), to: at('2020-08-01T00:00:00Z') };
      const byDay = () => new UsageService(t.db).totals(tenant.projectId, { ...range, groupBy: 'DAY' });
      const before = await byDay();
      expect(before.map((g) => [g.key, formatUsd(g.cost)])).toEqual([
        ['2020-03-03', '1.5'],
        ['2020-04-11', '0.125'],
        ['2020-05-20', '2.25'],
        ['2020-06-30', '4'],
      ]);

      // 45 days kept, seen from 20 July: the records before 5 June go, March and May a partition at a time
      const retained = new UsageStorage(t.db, 45);
      expect(await retained.dropExpiredRecords(at('2020-07-20T00:00:00Z'))).toEqual([
        'usage_records_y2020m03',
        'usage_records_y2020m05',
      ]);
      const left = (await t.db.query(
        `SELECT created_at FROM usage_records WHERE project_id = $1 ORDER BY 1`,
        [tenant.projectId],
      )) as { created_at: Date }[];
      expect(left.map((r) => r.created_at.toISOString())).toEqual(['2020-06-30T12:00:00.000Z']);
      expect(await byDay()).toEqual(before);
      expect(
        (await new UsageService(t.db).totals(tenant.projectId, { ...range, groupBy: 'MODEL' }))[0],
      ).toMatchObject({ requests: 4, promptTokens: 40, cost: parseUsd('7.875') });
      // the partial hours at a range's edges have no records left to read: whole hours only
      const partial = await new UsageService(t.db).totals(tenant.projectId, {
        from: at('2020-03-03T10:20:00Z'),
        to: at('2020-05-20T23:30:00Z'),
        groupBy: 'MODEL',
      });
      expect(partial[0]).toMatchObject({ requests: 1, cost: parseUsd('0.125') });
      // a retention leaves the months it does not reach
      expect(await new UsageStorage(t.db, null).dropExpiredRecords(at('2030-01-01T00:00:00Z'))).toEqual([]);
      expect(await retained.dropExpiredRecords(at('2020-07-20T00:00:00Z'))).toEqual([]);
    });
  });

  it('the sweeper folds the rollups, keeps the partitions ahead and applies the retention', async () => {
    const tenant = await t.tenant();
    for (let i = 0; i < 3; i++) {
      await write({ project_id: tenant.projectId, api_key_id: tenant.keyId, cost: '0.01' });
    }
    expect((await rollupRows(t.db, [tenant.projectId])).unfolded).toBe(6);
    const warnings: unknown[] = [];
    const log = {
      warn: (...args: unknown[]) => warnings.push(args),
      info: () => undefined,
    } as unknown as Logger;
    const sweeper = new Sweeper({
      db: t.db,
      log,
      reservations: t.reservations,
      alerts: { sweep: async () => [] } as unknown as AlertService,
      metrics: { touch: () => undefined } as unknown as MetricsPublisher,
      usage: new UsageStorage(t.db, 36_500),
      intervalMs: 60_000,
    });
    await sweeper.sweepOnce();
    expect(warnings).toEqual([]);
    expect(await rollupRows(t.db, [tenant.projectId])).toEqual({ rows: 2, unfolded: 0 });
    expect(await rollupDrift(t.db, [tenant.projectId])).toEqual([]);
  });

  it('partitions are made ahead: this month and the next two exist after a migrate', async () => {
    const [row] = (await t.db.query(
      `SELECT array_agg(c.relname::text ORDER BY c.relname) AS names FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'usage_records'::regclass`,
    )) as { names: string[] }[];
    const month = (offset: number) => {
      const d = new Date();
      const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1));
      return `usage_records_y${m.getUTCFullYear()}m${String(m.getUTCMonth() + 1).padStart(2, '0')}`;
    };
    expect(row!.names).toEqual(
      expect.arrayContaining([month(0), month(1), month(2), 'usage_records_default']),
    );
  });
});

function dbUrl(t: InProcess): string {
  return (t.pool as unknown as { options: { connectionString: string } }).options.connectionString;
}

/** A small seeded random number generator, so the data (and a failure) are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let r = Math.imul(a ^ (a >>> 15), 1 | a);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

import crypto from 'node:crypto';
import { UsageRecord } from '../../src/modules/usage/usage-record.entity';
import type { Hold } from '../../src/modules/budgets/reservation.service';
import { parseUsd } from '../../src/shared/money';
import { abandonedRow, InProcess, usageRow } from '../support/in-process';
import { eventually } from '../support/harness';
import { rollupDrift } from '../support/rollups';

/**
 * The ledger below the API: its SQL functions called directly and through the reservation service,
 * on a migrated database, with no HTTP server. Money is checked to the pico-dollar, and the books
 * (counters against usage records) after every story.
 */
const onPostgres = process.env.DATABASE_URL ? it : it.skip;

describe('the ledger (in process, migrated database)', () => {
  let t: InProcess;

  beforeAll(async () => {
    t = await InProcess.start();
  }, 120_000);
  afterAll(() => t.close());

  const hold = (tenant: { projectId: string; keyId: string }, requestId: string, usd: string, now?: Date) =>
    t.reservations.reserveHold(
      {
        projectId: tenant.projectId,
        apiKeyId: tenant.keyId,
        requestId,
        amount: parseUsd(usd),
        abandoned: abandonedRow(),
      },
      now,
    );

  describe('the contract with SQL', () => {
    it('the batch function runs its statements without JIT (a disabled scan is costed far past its threshold)', async () => {
      const [row] = (await t.db.query(
        `SELECT proconfig FROM pg_proc WHERE proname = 'tollgate_ledger_batch'`,
      )) as { proconfig: string[] }[];
      expect(row!.proconfig).toEqual(expect.arrayContaining(['enable_seqscan=off', 'jit=off']));
    });

    it('UsageRow names every column of usage_records the pipeline writes', () => {
      const columns = t.db
        .getMetadata(UsageRecord)
        .columns.map((c) => c.databaseName)
        .filter((c) => !['created_at', 'reservation_id'].includes(c))
        .sort();
      const row = usageRow({ projectId: crypto.randomUUID(), keyId: crypto.randomUUID() }, 'r', 1n);
      expect(Object.keys(row).sort()).toEqual(columns);
    });

    it('tollgate_reserve and tollgate_settle, called directly: hold, refuse, settle, settle again', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' });
      const [budget] = tenant.budgetIds;
      const [b] = (await t.db.query(
        `SELECT id, limit_usd::text AS lim, period, time_zone FROM budgets WHERE id = $1`,
        [budget],
      )) as { id: string; lim: string; period: string; time_zone: string }[];
      const [w] = (await t.db.query(`SELECT period_start FROM budget_counters WHERE budget_id = $1`, [
        budget,
      ])) as {
        period_start: Date;
      }[];
      const reserve = (amount: string, signature = `${b!.id}:${b!.lim}:${b!.period}:${b!.time_zone}`) =>
        t.db
          .query(`SELECT tollgate_reserve($1::jsonb) AS r`, [
            JSON.stringify({
              project: tenant.projectId,
              key: tenant.keyId,
              request: 'direct',
              amount,
              ttlMs: 60_000,
              signature,
              budgets: [budget],
              starts: [w!.period_start.toISOString()],
              limits: [b!.lim],
              usage: abandonedRow(),
            }),
          ])
          .then((rows: { r: Record<string, unknown> }[]) => rows[0]!.r);
      expect(await reserve('0.5', 'not-what-the-database-has')).toEqual({ stale: true });
      const held = await reserve('0.6');
      expect(held).toEqual({ reservation: expect.stringMatching(/^[0-9a-f-]{36}$/) });
      expect(await reserve('0.5')).toEqual({
        refused: [{ budget, spent: '0.000000000000', reserved: '0.600000000000' }],
      });
      const row = usageRow(tenant, 'direct', parseUsd('0.25'));
      const settle = () =>
        t.db
          .query(`SELECT tollgate_settle($1::jsonb) AS r`, [
            JSON.stringify({ reservation: held.reservation, usage: row }),
          ])
          .then((rows: { r: Record<string, unknown> }[]) => rows[0]!.r);
      expect(await settle()).toMatchObject({
        usage: { id: row.id },
        counters: [{ budget, spent: '0.250000000000', reserved: '0.000000000000', requests: 1 }],
      });
      expect(await settle()).toMatchObject({ already: true, usage: { id: row.id } });
      expect(await t.books(tenant.projectId, budget!)).toMatchObject({
        spent: '0.250000000000',
        reserved: '0.000000000000',
        usageCost: '0.250000000000',
        usageRows: 1,
        activeReservations: 0,
      });
    });

    it('the batch function answers each item in item order, settles and releases before reserves', async () => {
      const tenant = await t.tenant({ period: 'MONTHLY', limitUsd: '1' });
      const a = await hold(tenant, 'a', '0.9');
      const items = [
        { op: 'reserve' as const, ...(await reserveItem(t, tenant, a, 'b', '0.5')) },
        { op: 'release' as const, reservation: a.id, usage: null },
      ];
      const [row] = (await t.db.query(`SELECT tollgate_ledger_batch($1::jsonb) AS results`, [
        JSON.stringify(items),
      ])) as { results: Record<string, unknown>[] }[];
      // the release ran first: the 0.5 fits
      expect(row!.results).toEqual([
        { reservation: expect.stringMatching(/^[0-9a-f-]{36}$/) },
        { released: true, usage: null },
      ]);
      await expect(
        t.db.query(`SELECT tollgate_ledger_batch($1::jsonb)`, [JSON.stringify([{ op: 'nope' }])]),
      ).rejects.toThrow(/no known op/);
    });

    it("a batch's reserves go together, each decided on the counters the ones before it left", async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' }, { period: 'MONTHLY', limitUsd: '2' });
      const first = await hold(tenant, 'first', '0.1'); // made alone, by tollgate_reserve
      const other = await t.tenant();
      const free = { op: 'reserve' as const, ...unbudgetedItem(other) };
      const item = async (id: string, usd: string) => ({
        op: 'reserve' as const,
        ...(await reserveItem(t, tenant, first, id, usd)),
      });
      const items = [
        await item('a', '0.5'),
        await item('b', '0.5'), // 0.1 + 0.5 + 0.5 > 1 on the DAILY budget only
        { ...(await item('stale', '0.1')), signature: 'what the caller cached before a change' },
        await item('c', '0.4'),
        await item('d', '0.01'), // exactly nothing left on DAILY now: 0.1 + 0.5 + 0.4 = 1
        // another project, with no budget: nothing to hold (its budgets said as none, or not at all)
        { ...free, budgets: [], starts: [], limits: [] },
        free,
      ];
      const [row] = (await t.db.query(`SELECT tollgate_ledger_batch($1::jsonb) AS results`, [
        JSON.stringify(items),
      ])) as { results: Record<string, unknown>[] }[];
      const [daily, monthly] = tenant.budgetIds as [string, string];
      const held = { reservation: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown };
      expect(row!.results).toEqual([
        held,
        { refused: [{ budget: daily, spent: '0.000000000000', reserved: '0.600000000000' }] },
        { stale: true },
        held,
        { refused: [{ budget: daily, spent: '0.000000000000', reserved: '1.000000000000' }] },
        { reservation: null },
        { reservation: null },
      ]);
      expect(await t.books(tenant.projectId, daily)).toMatchObject({
        reserved: '1.000000000000',
        activeReservations: 3,
      });
      expect(await t.books(tenant.projectId, monthly)).toMatchObject({ reserved: '1.000000000000' });
      // each reservation as tollgate_reserve wrote one before batches: its holds in (budget, start)
      // order, each window start as Postgres writes a timestamptz in JSON, the amount as sent
      const starts = (await t.db.query(
        `SELECT budget_id, to_jsonb(period_start) #>> '{}' AS start FROM budget_counters
          WHERE budget_id = ANY($1) ORDER BY budget_id`,
        [tenant.budgetIds],
      )) as { budget_id: string; start: string }[];
      expect(starts.map((s) => s.start)).toEqual([
        expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/),
        expect.any(String),
      ]);
      const rows = (await t.db.query(
        `SELECT request_id, amount::text AS amount, holds, usage, api_key_id, expires_at > now() AS live
           FROM reservations WHERE project_id = $1 ORDER BY request_id`,
        [tenant.projectId],
      )) as {
        request_id: string;
        amount: string;
        holds: unknown;
        usage: unknown;
        api_key_id: string;
        live: boolean;
      }[];
      expect(rows.map((r) => [r.request_id, r.amount])).toEqual([
        ['a', '0.500000000000'],
        ['c', '0.400000000000'],
        ['first', '0.100000000000'],
      ]);
      for (const [r, usd] of [
        [rows[0]!, '0.5'],
        [rows[1]!, '0.4'],
        [rows[2]!, '0.1'],
      ] as const) {
        expect(r.holds).toEqual(
          starts.map((s) => ({ budgetId: s.budget_id, periodStart: s.start, amount: usd })),
        );
        expect(r.usage).toEqual(abandonedRow());
        expect([r.api_key_id, r.live]).toEqual([tenant.keyId, true]);
      }
    });

    it('a batch settles its common settles together, each seeing the counters as if they ran one by one', async () => {
      const tenant = await t.tenant(
        { period: 'DAILY', limitUsd: '10' },
        { period: 'MONTHLY', limitUsd: '10' },
      );
      const [a, b, c, d] = await Promise.all(['a', 'b', 'c', 'd'].map((id) => hold(tenant, id, '0.5')));
      const rowA = usageRow(tenant, 'a', parseUsd('0.1'), { prompt: 10, completion: 1 });
      const settle = (held: Hold, usd: string, id: string) => ({
        op: 'settle' as const,
        reservation: held.id,
        usage: usageRow(tenant, id, parseUsd(usd), { prompt: 10, completion: 1 }),
      });
      // b and c are the common case, settled together first; the two settles of a share a
      // reservation (a retry), so they go one by one after, as does the release of d
      const items = [
        { op: 'settle' as const, reservation: a!.id, usage: rowA },
        settle(b!, '0.2', 'b'),
        { op: 'release' as const, reservation: d!.id, usage: null },
        settle(c!, '0.3', 'c'),
        { op: 'settle' as const, reservation: a!.id, usage: rowA },
      ];
      const [row] = (await t.db.query(`SELECT tollgate_ledger_batch($1::jsonb) AS results`, [
        JSON.stringify(items),
      ])) as { results: { usage?: { id: string }; counters?: Record<string, unknown>[] }[] }[];
      const results = row!.results;
      const after = (spent: string, reserved: string, requests: number) =>
        tenant.budgetIds
          .map((budget) => ({
            budget,
            start: expect.any(String) as unknown,
            spent,
            reserved,
            prompt: 10 * requests,
            completion: requests,
            requests,
          }))
          .sort((x, y) => x.budget.localeCompare(y.budget));
      expect(results[1]).toEqual({
        usage: { id: items[1]!.usage!.id, created_at: expect.any(String) },
        counters: after('0.200000000000', '1.500000000000', 1),
      });
      expect(results[3]).toEqual({
        usage: { id: items[3]!.usage!.id, created_at: expect.any(String) },
        counters: after('0.500000000000', '1.000000000000', 2),
      });
      expect(results[0]).toEqual({
        usage: { id: rowA.id, created_at: expect.any(String) },
        counters: after('0.600000000000', '0.500000000000', 3),
      });
      expect(results[4]).toEqual({ already: true, usage: { id: rowA.id, created_at: expect.any(String) } });
      expect(results[2]).toEqual({ released: true, usage: null });
      // both paths answer in one format: the same window start, the same record time
      expect(results[1]!.counters!.map((x) => x.start)).toEqual(results[0]!.counters!.map((x) => x.start));
      expect(results[1]!.usage).toEqual({ ...results[0]!.usage, id: items[1]!.usage!.id });
      for (const budget of tenant.budgetIds) {
        expect(await t.books(tenant.projectId, budget)).toMatchObject({
          spent: '0.600000000000',
          reserved: '0.000000000000',
          requests: 3,
          usageCost: '0.600000000000',
          usageRows: 3,
          activeReservations: 0,
        });
      }
      expect(await rollupDrift(t.db, [tenant.projectId])).toEqual([]);
    });

    it('a lone reserve or settle takes the short path, which answers as the general one and declines the rest untouched', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' }, { period: 'MONTHLY', limitUsd: '2' });
      const [daily, monthly] = tenant.budgetIds as [string, string];
      const first = await hold(tenant, 'first', '0.1');
      const lone = async (fn: 'tollgate_reserve_lone' | 'tollgate_settle_lone', item: object) => {
        const [row] = (await t.db.query(`SELECT ${fn}($1::jsonb) AS r`, [JSON.stringify(item)])) as {
          r: Record<string, unknown> | null;
        }[];
        return row!.r;
      };
      const item = async (id: string, usd: string) => reserveItem(t, tenant, first, id, usd);
      const counters = () =>
        t.db.query(
          `SELECT budget_id, period_start, spent::text, reserved::text, requests FROM budget_counters
            WHERE budget_id = ANY($1) ORDER BY 1, 2`,
          [tenant.budgetIds],
        );
      const reservations = () =>
        t.db.query(`SELECT id, status FROM reservations WHERE project_id = $1 ORDER BY id`, [
          tenant.projectId,
        ]);
      // the decisions of the batch test above, item by item
      const held = { reservation: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown };
      const a = await lone('tollgate_reserve_lone', await item('a', '0.5'));
      expect(a).toEqual(held);
      expect(await lone('tollgate_reserve_lone', await item('b', '0.5'))).toEqual({
        refused: [{ budget: daily, spent: '0.000000000000', reserved: '0.600000000000' }],
      });
      expect(
        await lone('tollgate_reserve_lone', {
          ...(await item('stale', '0.1')),
          signature: 'cached before a change',
        }),
      ).toEqual({ stale: true });
      expect(await lone('tollgate_reserve_lone', await item('c', '0.4'))).toEqual(held);
      expect(await lone('tollgate_reserve_lone', await item('d', '0.01'))).toEqual({
        refused: [{ budget: daily, spent: '0.000000000000', reserved: '1.000000000000' }],
      });
      const other = await t.tenant();
      expect(
        await lone('tollgate_reserve_lone', {
          ...unbudgetedItem(other),
          budgets: [],
          starts: [],
          limits: [],
        }),
      ).toEqual({ reservation: null });
      // the reservation as the general path writes it
      const [written] = (await t.db.query(
        `SELECT amount::text AS amount, holds, usage FROM reservations WHERE id = $1`,
        [(a as { reservation: string }).reservation],
      )) as { amount: string; holds: unknown; usage: unknown }[];
      const [general] = (await t.db.query(
        `SELECT amount::text AS amount, holds, usage FROM reservations WHERE id = $1`,
        [first.id],
      )) as { amount: string; holds: { amount: string }[]; usage: unknown }[];
      expect(written).toEqual({
        amount: '0.500000000000',
        holds: general!.holds.map((h) => ({ ...h, amount: '0.5' })),
        usage: abandonedRow(),
      });
      // a window with no counter yet (the first call of a period): declined, nothing made or locked
      const before = [await counters(), await reservations()];
      const nextDay = {
        ...(await item('e', '0.1')),
        starts: [
          new Date(Date.now() + 86_400_000).toISOString(),
          first.budgets[1]!.periodStart.toISOString(),
        ],
      };
      expect(await lone('tollgate_reserve_lone', nextDay)).toBeNull();
      expect([await counters(), await reservations()]).toEqual(before);
      // a settle: the counters after it, as the batch answers
      const row = usageRow(tenant, 'a', parseUsd('0.25'), { prompt: 10, completion: 1 });
      const settle = { reservation: (a as { reservation: string }).reservation, usage: row };
      expect(await lone('tollgate_settle_lone', settle)).toEqual({
        usage: { id: row.id, created_at: expect.any(String) },
        counters: [
          { budget: daily, spent: '0.250000000000', reserved: '0.500000000000', requests: 1 },
          { budget: monthly, spent: '0.250000000000', reserved: '0.500000000000', requests: 1 },
        ]
          .sort((x, y) => x.budget.localeCompare(y.budget))
          .map((c) => ({ ...c, start: expect.any(String), prompt: 10, completion: 1 })),
      });
      // declined: settled already, no reservation, a retry that supersedes, an idempotency record to
      // complete; the general path answers them
      const declined = [
        settle,
        { reservation: null, usage: usageRow(tenant, 'f', 0n) },
        { reservation: first.id, usage: usageRow(tenant, 'first', 0n), supersede: true },
        {
          reservation: first.id,
          usage: usageRow(tenant, 'first', 0n),
          done: { project: tenant.projectId, request: 'first', response: {} },
        },
      ];
      const still = [await counters(), await reservations()];
      for (const d of declined) expect(await lone('tollgate_settle_lone', d)).toBeNull();
      expect([await counters(), await reservations()]).toEqual(still);
      const [again] = (await t.db.query(`SELECT tollgate_ledger_batch($1::jsonb) AS results`, [
        JSON.stringify([{ op: 'settle', ...settle }]),
      ])) as { results: unknown[] }[];
      expect(again!.results).toEqual([
        { already: true, usage: { id: row.id, created_at: expect.any(String) } },
      ]);
      expect(await t.books(tenant.projectId, daily)).toMatchObject({
        spent: '0.250000000000',
        reserved: '0.500000000000',
        usageCost: '0.250000000000',
        usageRows: 1,
        activeReservations: 2,
      });
      expect(await rollupDrift(t.db, [tenant.projectId])).toEqual([]);
    });
  });

  it('settles a call whose budget was deleted while it was in flight, charging the budgets that remain', async () => {
    const tenant = await t.tenant({ period: 'DAILY', limitUsd: '10' }, { period: 'MONTHLY', limitUsd: '10' });
    const [doomed, kept] = tenant.budgetIds as [string, string];
    const held = await hold(tenant, 'in-flight', '0.5');
    expect(held.budgets.map((b) => b.id).sort()).toEqual([doomed, kept].sort());
    await t.budgets.delete(tenant.projectId, doomed);
    const recorded = await t.reservations.recordUsage(held, usageRow(tenant, 'in-flight', parseUsd('0.2')));
    expect(recorded.counters.map((c) => c.budget.id)).toEqual([kept]);
    expect(await t.books(tenant.projectId, kept)).toMatchObject({
      spent: '0.200000000000',
      reserved: '0.000000000000',
      usageCost: '0.200000000000',
      activeReservations: 0,
    });
  });

  it('lands calls just before and just after local midnight in the right daily and monthly periods', async () => {
    const zones = [
      { period: 'DAILY' as const, limitUsd: '100', timeZone: 'America/New_York' },
      { period: 'MONTHLY' as const, limitUsd: '100', timeZone: 'America/New_York' },
      { period: 'DAILY' as const, limitUsd: '100', timeZone: 'Asia/Kolkata' },
      { period: 'MONTHLY' as const, limitUsd: '100', timeZone: 'Asia/Kolkata' },
    ];
    const tenant = await t.tenant(...zones);
    const [nyDay, nyMonth, inDay, inMonth] = tenant.budgetIds as [string, string, string, string];
    // Each call charges a distinct power of two (in micro-dollars), so every sum names its calls.
    const calls = {
      nyBefore: { at: '2024-02-01T04:59:59.999Z', cost: 1n }, // NY Jan 31 23:59:59.999; Kolkata Feb 1 10:29
      nyAfter: { at: '2024-02-01T05:00:00.000Z', cost: 2n }, // NY Feb 1 00:00
      inBefore: { at: '2024-01-31T18:29:59.999Z', cost: 4n }, // Kolkata Jan 31 23:59:59.999; NY Jan 31 13:29
      inAfter: { at: '2024-01-31T18:30:00.000Z', cost: 8n }, // Kolkata Feb 1 00:00
      nyDst: { at: '2024-03-10T07:00:00.000Z', cost: 16n }, // NY Mar 10 03:00 EDT, an hour after the jump
    };
    const micro = (n: bigint) => n * 1_000_000n;
    const holds: Record<string, Hold> = {};
    for (const [name, call] of Object.entries(calls)) {
      holds[name] = await t.reservations.reserveHold(
        {
          projectId: tenant.projectId,
          apiKeyId: tenant.keyId,
          requestId: name,
          amount: micro(call.cost),
          abandoned: abandonedRow(),
        },
        new Date(call.at),
      );
    }
    const startOf = (name: keyof typeof calls, budget: string) =>
      holds[name]!.budgets.find((b) => b.id === budget)!.periodStart.toISOString();
    expect(startOf('nyBefore', nyDay)).toBe('2024-01-31T05:00:00.000Z');
    expect(startOf('nyAfter', nyDay)).toBe('2024-02-01T05:00:00.000Z');
    expect(startOf('inBefore', inMonth)).toBe('2023-12-31T18:30:00.000Z');
    expect(startOf('inAfter', inMonth)).toBe('2024-01-31T18:30:00.000Z');
    expect(await countersOf(t, nyDay, 'reserved')).toEqual({
      '2024-01-31T05:00:00.000Z': micro(1n + 4n + 8n),
      '2024-02-01T05:00:00.000Z': micro(2n),
      '2024-03-10T05:00:00.000Z': micro(16n),
    });
    // Reserved "in the past", they still expire on the real clock: a sweep now finds none of them.
    expect(await t.reservations.sweepExpiredHolds()).toMatchObject({ abandoned: 0, released: 0 });
    for (const [name, call] of Object.entries(calls)) {
      await t.reservations.recordUsage(holds[name]!, usageRow(tenant, name, micro(call.cost)));
    }
    expect(await countersOf(t, nyDay, 'spent')).toEqual({
      '2024-01-31T05:00:00.000Z': micro(1n + 4n + 8n),
      '2024-02-01T05:00:00.000Z': micro(2n),
      '2024-03-10T05:00:00.000Z': micro(16n),
    });
    expect(await countersOf(t, nyMonth, 'spent')).toEqual({
      '2024-01-01T05:00:00.000Z': micro(1n + 4n + 8n),
      '2024-02-01T05:00:00.000Z': micro(2n),
      '2024-03-01T05:00:00.000Z': micro(16n),
    });
    expect(await countersOf(t, inDay, 'spent')).toEqual({
      '2024-01-30T18:30:00.000Z': micro(4n),
      '2024-01-31T18:30:00.000Z': micro(1n + 2n + 8n),
      '2024-03-09T18:30:00.000Z': micro(16n),
    });
    expect(await countersOf(t, inMonth, 'spent')).toEqual({
      '2023-12-31T18:30:00.000Z': micro(4n),
      '2024-01-31T18:30:00.000Z': micro(1n + 2n + 8n),
      '2024-02-29T18:30:00.000Z': micro(16n),
    });
    for (const id of tenant.budgetIds) {
      expect(Object.values(await countersOf(t, id, 'reserved')).every((r) => r === 0n)).toBe(true);
    }
  });

  describe('holds of calls that died', () => {
    const expire = (id: string | null, ago = '1 second') =>
      t.db.query(`UPDATE reservations SET expires_at = now() - $2::interval WHERE id = $1`, [id, ago]);

    it('are charged at their reserved amount (ABANDONED), and the real settle, if it comes, replaces that', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' });
      const [budget] = tenant.budgetIds as [string];
      const dead = await hold(tenant, 'dead', '0.4');
      const late = await hold(tenant, 'late', '0.3');
      await expire(dead.id);
      await expire(late.id);
      expect(await t.reservations.sweepExpiredHolds()).toMatchObject({ abandoned: 2, released: 0 });
      // The placeholder: the reservation's call, its charge, what the call knew when it reserved.
      const [placeholder] = (await t.db.query(
        `SELECT project_id, api_key_id, request_id, reservation_id, kind, model_requested, model_served, provider,
                route_tier, prompt_tokens, completion_tokens, total_tokens, cached_prompt_tokens, cache_write_tokens,
                reasoning_tokens, cost::text, cache_savings::text, priced, price_note, gateway_latency_ms,
                upstream_latency_ms, attempts, fallbacks, downgraded, outcome, error_code
           FROM usage_records WHERE reservation_id = $1`,
        [dead.id],
      )) as Record<string, unknown>[];
      expect(placeholder).toEqual({
        project_id: tenant.projectId,
        api_key_id: tenant.keyId,
        request_id: 'dead',
        reservation_id: dead.id,
        kind: 'CHAT',
        model_requested: 'deepseek-chat',
        model_served: 'deepseek-chat',
        provider: 'upstream',
        route_tier: null,
        prompt_tokens: 100,
        completion_tokens: 50,
        total_tokens: 150,
        cached_prompt_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        cost: '0.400000000000',
        cache_savings: '0.000000000000',
        priced: true,
        price_note: 'abandoned: charged its reservation (the call died before it settled)',
        gateway_latency_ms: 0,
        upstream_latency_ms: 0,
        attempts: 0,
        fallbacks: [],
        downgraded: false,
        outcome: 'ABANDONED',
        error_code: 'ABANDONED',
      });
      // The ledger over-counts (the worst case), never under-counts: both holds are now spend.
      expect(await t.books(tenant.projectId, budget)).toMatchObject({
        spent: '0.700000000000',
        reserved: '0.000000000000',
        requests: 2,
        promptTokens: 200,
        usageCost: '0.700000000000',
        usageRows: 2,
        abandonedRows: 2,
        activeReservations: 0,
      });
      // The slow one was alive after all: its real charge replaces its placeholder.
      await t.reservations.recordUsage(
        late,
        usageRow(tenant, 'late', parseUsd('0.05'), { prompt: 30, completion: 5 }),
      );
      expect(await t.books(tenant.projectId, budget)).toMatchObject({
        spent: '0.450000000000',
        requests: 2,
        promptTokens: 130,
        usageCost: '0.450000000000',
        usageRows: 2,
        abandonedRows: 1,
      });
    });

    it('a hold keeps its abandoned record only while it is open, however it closes', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '10' });
      const held = Object.fromEntries(
        await Promise.all(
          ['lone', 'pairA', 'pairB', 'done', 'released', 'dead', 'open'].map(
            async (name) => [name, await hold(tenant, name, '0.1')] as const,
          ),
        ),
      );
      const templateOf = async (name: string) => {
        const [row] = (await t.db.query(
          `SELECT status, usage IS NOT NULL AS kept FROM reservations WHERE id = $1`,
          [held[name]!.id],
        )) as { status: string; kept: boolean }[];
        return row;
      };
      expect(await templateOf('lone')).toEqual({ status: 'ACTIVE', kept: true });
      const settle = (name: string, extra: Record<string, unknown> = {}) => ({
        op: 'settle' as const,
        reservation: held[name]!.id,
        usage: usageRow(tenant, name, parseUsd('0.05')),
        ...extra,
      });
      const batch = (items: unknown[]) =>
        t.db.query(`SELECT tollgate_ledger_batch($1::jsonb)`, [JSON.stringify(items)]);
      await batch([settle('lone')]); // tollgate_settle_lone
      await batch([settle('pairA'), settle('pairB')]); // tollgate_settle_many
      await batch([settle('done', { done: { project: tenant.projectId, request: 'done', response: {} } })]); // tollgate_settle
      await t.reservations.releaseHold(held.released!, null); // tollgate_release
      await expire(held.dead!.id);
      expect(await t.reservations.sweepExpiredHolds()).toMatchObject({ abandoned: 1 });
      for (const [name, status] of [
        ['lone', 'SETTLED'],
        ['pairA', 'SETTLED'],
        ['pairB', 'SETTLED'],
        ['done', 'SETTLED'],
        ['released', 'RELEASED'],
        ['dead', 'ABANDONED'],
      ]) {
        expect({ name, ...(await templateOf(name!)) }).toEqual({ name, status, kept: false });
      }
      expect(await templateOf('open')).toEqual({ status: 'ACTIVE', kept: true });
    });

    it('are released instead when the operator chose release, and a late settle is still charged', async () => {
      const releasing = await InProcess.start({ chargeAbandoned: false });
      try {
        const tenant = await releasing.tenant({ period: 'DAILY', limitUsd: '1' });
        const [budget] = tenant.budgetIds as [string];
        const slow = await releasing.reservations.reserveHold({
          projectId: tenant.projectId,
          apiKeyId: tenant.keyId,
          requestId: 'slow',
          amount: parseUsd('0.3'),
          abandoned: abandonedRow(),
        });
        await releasing.db.query(
          `UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1`,
          [slow.id],
        );
        expect(await releasing.reservations.sweepExpiredHolds()).toMatchObject({ abandoned: 0, released: 1 });
        expect(await releasing.books(tenant.projectId, budget)).toMatchObject({
          spent: '0.000000000000',
          reserved: '0.000000000000',
          usageRows: 0,
        });
        const row = usageRow(tenant, 'slow', parseUsd('0.25'));
        const recorded = await releasing.reservations.recordUsage(slow, row);
        expect(recorded.counters.map((c) => [c.spent, c.reserved])).toEqual([[parseUsd('0.25'), 0n]]);
        // settling again changes nothing
        expect((await releasing.reservations.recordUsage(slow, row)).counters).toEqual([]);
        expect(await releasing.books(tenant.projectId, budget)).toMatchObject({
          spent: '0.250000000000',
          reserved: '0.000000000000',
          requests: 1,
          usageCost: '0.250000000000',
          usageRows: 1,
          activeReservations: 0,
        });
      } finally {
        await releasing.close();
      }
    });

    it('a retry of the same requestId supersedes the dead call: one charge for the requestId', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' });
      const [budget] = tenant.budgetIds as [string];
      await hold(tenant, 'retried', '0.4'); // the dead instance's call, never settled
      // The retry took over the lapsed lease: the dead call's holds are taken at once, charged.
      expect(await t.reservations.abandonHoldsOf(tenant.projectId, 'retried')).toMatchObject({
        abandoned: 1,
      });
      expect((await t.books(tenant.projectId, budget)).spent).toBe('0.400000000000');
      const retry = await hold(tenant, 'retried', '0.4');
      await t.reservations.recordUsage(retry, usageRow(tenant, 'retried', parseUsd('0.1')), {
        supersede: true,
      });
      expect(await t.books(tenant.projectId, budget)).toMatchObject({
        spent: '0.100000000000',
        reserved: '0.000000000000',
        requests: 1,
        usageCost: '0.100000000000',
        usageRows: 1,
        abandonedRows: 0,
        activeReservations: 0,
      });
    });

    onPostgres(
      "a retry's superseding settle and the dead call's late settle, at once, do not deadlock",
      async () => {
        const tenant = await t.tenant(
          { period: 'DAILY', limitUsd: '1' },
          { period: 'MONTHLY', limitUsd: '1' },
        );
        const dead = await hold(tenant, 'both', '0.4'); // the call thought dead, which still finishes
        await t.reservations.abandonHoldsOf(tenant.projectId, 'both');
        const retry = await hold(tenant, 'both', '0.4');
        const settle = (held: Hold, usd: string, supersede: boolean) =>
          t.db.query(`SELECT tollgate_ledger_batch($1::jsonb) AS results`, [
            JSON.stringify([
              {
                op: 'settle',
                reservation: held.id,
                usage: usageRow(tenant, 'both', parseUsd(usd)),
                supersede,
              },
            ]),
          ]) as Promise<{ results: unknown[] }[]>;
        const waitingOnLocks = async () =>
          (
            (await t.db.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )) as { n: number }[]
          )[0]!.n;
        const blocker = t.db.createQueryRunner();
        await blocker.connect();
        try {
          await blocker.startTransaction();
          await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = ANY($1) FOR UPDATE', [
            tenant.budgetIds,
          ]);
          // the dead call's settle queues first for the counters; the retry's comes after it
          const late = settle(dead, '0.2', false);
          await eventually(waitingOnLocks, (n) => n === 1);
          const superseding = settle(retry, '0.1', true);
          await eventually(waitingOnLocks, (n) => n === 2);
          await blocker.commitTransaction();
          // both are answered: neither was chosen as a deadlock's victim
          const [[a], [b]] = await Promise.all([late, superseding]);
          expect(a!.results[0]).toMatchObject({ usage: { id: expect.any(String) } });
          expect(b!.results[0]).toMatchObject({ usage: { id: expect.any(String) } });
        } finally {
          if (blocker.isTransactionActive) await blocker.rollbackTransaction();
          await blocker.release();
        }
        // both calls happened upstream and both are charged; the placeholder is gone
        for (const budget of tenant.budgetIds) {
          expect(await t.books(tenant.projectId, budget)).toMatchObject({
            spent: '0.300000000000',
            reserved: '0.000000000000',
            usageCost: '0.300000000000',
            usageRows: 2,
            abandonedRows: 0,
            activeReservations: 0,
          });
        }
      },
    );

    onPostgres(
      'renewing holds skips a hold a batch has locked (never waits among its locks) and renews the others',
      async () => {
        const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' });
        const [a, b] = await Promise.all([hold(tenant, 'renew-a', '0.1'), hold(tenant, 'renew-b', '0.1')]);
        const expiries = async () =>
          Object.fromEntries(
            (
              (await t.db.query(`SELECT request_id, expires_at FROM reservations WHERE id = ANY($1)`, [
                [a.id, b.id],
              ])) as { request_id: string; expires_at: Date }[]
            ).map((r) => [r.request_id, r.expires_at.getTime()]),
          );
        const before = await expiries();
        const blocker = t.db.createQueryRunner();
        await blocker.connect();
        try {
          await blocker.startTransaction();
          await blocker.query('SELECT 1 FROM reservations WHERE id = $1 FOR UPDATE', [a.id]);
          const renewed = t.ledger.renewHolds([a.id!, b.id!], 600_000).then(() => 'renewed');
          const waited = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3_000));
          expect(await Promise.race([renewed, waited])).toBe('renewed');
          const after = await expiries();
          expect(after['renew-a']).toBe(before['renew-a']);
          expect(after['renew-b']).toBeGreaterThan(before['renew-b']!);
        } finally {
          if (blocker.isTransactionActive) await blocker.rollbackTransaction();
          await blocker.release();
        }
      },
    );

    it('a live call keeps its hold past the TTL; the sweeper takes it only once the call stops renewing', async () => {
      const short = await InProcess.start({ ttlMs: 1000 });
      try {
        const tenant = await short.tenant({ period: 'DAILY', limitUsd: '1' });
        const [budget] = tenant.budgetIds as [string];
        const long = await short.reservations.reserveHold({
          projectId: tenant.projectId,
          apiKeyId: tenant.keyId,
          requestId: 'long',
          amount: parseUsd('0.5'),
          abandoned: abandonedRow(),
        });
        const stop = short.reservations.keepAlive(long);
        for (let i = 0; i < 5; i++) {
          await new Promise((r) => setTimeout(r, 500));
          expect(await short.reservations.sweepExpiredHolds()).toMatchObject({ abandoned: 0 });
        }
        stop();
        await eventually(
          () => short.reservations.sweepExpiredHolds(),
          (swept) => swept.abandoned === 1,
          5_000,
        );
        expect((await short.books(tenant.projectId, budget)).spent).toBe('0.500000000000');
      } finally {
        await short.close();
      }
    });

    // Real Postgres only: the blocker needs a second connection.
    onPostgres('a sweep and a reserve in flight cannot deadlock on counters', async () => {
      const projectTenant = await t.tenant();
      const k2 = await t.projects.createApiKey(projectTenant.projectId, 'k2', 'CLIENT', {});
      const k1 = { projectId: projectTenant.projectId, keyId: projectTenant.keyId };
      // ids chosen so that k2's budget < the project's < k1's: R1 holds {P, K1}, R2 holds {K2, P}
      const ids = {
        K2: '10000000-0000-4000-8000-000000000000',
        P: '50000000-0000-4000-8000-000000000000',
        K1: '90000000-0000-4000-8000-000000000000',
      };
      const made = {
        K2: (
          await t.budgets.create(k1.projectId, { apiKeyId: k2.apiKey.id, period: 'DAILY', limitUsd: '10' })
        ).id,
        P: (await t.budgets.create(k1.projectId, { period: 'DAILY', limitUsd: '10' })).id,
        K1: (await t.budgets.create(k1.projectId, { apiKeyId: k1.keyId, period: 'DAILY', limitUsd: '10' }))
          .id,
      };
      for (const name of ['K2', 'P', 'K1'] as const) {
        await t.db.query('DELETE FROM budget_counters WHERE budget_id = $1', [made[name]]);
        await t.db.query('UPDATE budgets SET id = $1 WHERE id = $2', [ids[name], made[name]]);
      }
      const r1 = await hold(k1, 'r1', '0.1');
      const r2 = await hold({ projectId: k1.projectId, keyId: k2.apiKey.id }, 'r2', '0.1');
      await expire(r1.id, '2 minutes'); // the older: a sweep comes to it first
      await expire(r2.id, '1 minute');
      const reserving = t.db.createQueryRunner();
      await reserving.connect();
      try {
        await reserving.startTransaction();
        const lock = (id: string) =>
          reserving.query('UPDATE budget_counters SET updated_at = now() WHERE budget_id = $1', [id]);
        await lock(ids.K2); // a reserve by k2 in flight: it holds K2's counter and locks P's next
        const sweeping = t.reservations.sweepExpiredHolds().then(
          (s) => s.abandoned,
          (e: Error) => e.message,
        );
        await new Promise((r) => setTimeout(r, 300)); // the sweep is now waiting for K2
        // Taking R1's holds first (P, then K1) and R2's next would hold P here: a deadlock.
        expect(
          await lock(ids.P).then(
            () => 'locked',
            (e: Error) => e.message,
          ),
        ).toBe('locked');
        await reserving.commitTransaction();
        expect(await sweeping).toBe(2);
      } finally {
        if (reserving.isTransactionActive) await reserving.rollbackTransaction();
        await reserving.release();
      }
      for (const id of Object.values(ids)) {
        expect(await t.books(k1.projectId, id)).toMatchObject({
          reserved: '0.000000000000',
          activeReservations: 0,
        });
      }
    });
  });

  describe('budgets changed while a reserve waits for its counters', () => {
    /** Sends `items` as one batch; resolves, with its answer to come, once the batch waits for a lock. */
    const waitingBatch = async (items: object[]) => {
      // (on the ledger's own pool, as the ledger sends it)
      const answer = t.pool
        .query<{ results: unknown[] }>(`SELECT tollgate_ledger_batch($1::jsonb) AS results`, [
          JSON.stringify(items),
        ])
        .then(
          ({ rows }) => rows[0]!.results,
          (e: Error) => e.message,
        );
      await eventually(
        () => ledgerBatches(t.db, `wait_event_type = 'Lock'`),
        (n) => n === 1,
      );
      return { answer };
    };

    onPostgres(
      'a lone reserve reads the budgets only once it holds the counters: a limit lowered meanwhile makes it stale',
      async () => {
        const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' });
        const [budget] = tenant.budgetIds as [string];
        const first = await hold(tenant, 'first', '0.1');
        const blocker = t.db.createQueryRunner();
        await blocker.connect();
        try {
          await blocker.startTransaction();
          await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = $1 FOR UPDATE', [budget]);
          // a batch of one: the short path, waiting for the counter
          const { answer } = await waitingBatch([
            { op: 'reserve', ...(await reserveItem(t, tenant, first, 'late', '0.8')) },
          ]);
          await t.db.query(`UPDATE budgets SET limit_usd = 0.5 WHERE id = $1`, [budget]);
          await blocker.commitTransaction();
          // held against the old limit, 0.1 + 0.8 would pass the new one; stale, the caller reloads
          expect(await answer).toEqual([{ stale: true }]);
        } finally {
          if (blocker.isTransactionActive) await blocker.rollbackTransaction();
          await blocker.release();
        }
        expect(await t.books(tenant.projectId, budget)).toMatchObject({
          reserved: '0.100000000000',
          activeReservations: 1,
        });
      },
    );

    onPostgres('a batch whose reserve meets a budget being deleted answers stale, not an error', async () => {
      const tenant = await t.tenant({ period: 'DAILY', limitUsd: '1' }, { period: 'MONTHLY', limitUsd: '1' });
      const [daily] = tenant.budgetIds as [string, string];
      const first = await hold(tenant, 'first', '0.1');
      await t.reservations.releaseHold(first, null);
      const other = await t.tenant();
      const deleting = t.db.createQueryRunner();
      await deleting.connect();
      try {
        await deleting.startTransaction();
        await deleting.query('DELETE FROM budgets WHERE id = $1', [daily]); // its counters go with it
        // two items: the general path, which makes a reserve's missing counters
        const { answer } = await waitingBatch([
          { op: 'reserve', ...(await reserveItem(t, tenant, first, 'during', '0.1')) },
          { op: 'reserve', ...unbudgetedItem(other) },
        ]);
        await deleting.commitTransaction();
        expect(await answer).toEqual([{ stale: true }, { reservation: null }]);
      } finally {
        if (deleting.isTransactionActive) await deleting.rollbackTransaction();
        await deleting.release();
      }
      expect(
        await t.db.query(`SELECT count(*)::int AS n FROM budget_counters WHERE budget_id = $1`, [daily]),
      ).toEqual([{ n: 0 }]);
    });
  });

  describe('group commit', () => {
    /**
     * Sends `first` while another connection holds the counter row of `budgetId`, so its batch waits
     * in the database; whatever `queue` submits meanwhile waits behind it, and goes in the next batch.
     * Returns what `queue`'s calls came to, and the items ("op" of each) of each batch sent.
     */
    async function behindABlockedBatch(
      budgetId: string,
      first: () => Promise<unknown>,
      queue: () => Promise<Promise<unknown>[]>,
    ) {
      const spy = jest.spyOn(t.pool, 'query');
      const batches = () =>
        (spy.mock.calls as unknown[][])
          .map(([config]) => config as { name?: string; values?: unknown[] })
          .filter((config) => config.name === 'tollgate_ledger_batch')
          .map((config) => (JSON.parse(String(config.values![0])) as { op: string }[]).map((i) => i.op));
      const blocker = t.db.createQueryRunner();
      await blocker.connect();
      try {
        await blocker.startTransaction();
        await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = $1 FOR UPDATE', [budgetId]);
        const started = first();
        await eventually(batches, (sent) => sent.length === 1);
        const queued = await queue();
        await new Promise((r) => setTimeout(r, 100)); // all of it is waiting in the batcher
        expect(batches()).toHaveLength(1);
        await blocker.commitTransaction();
        await started;
        return { results: await Promise.all(queued), batches: batches() };
      } finally {
        if (blocker.isTransactionActive) await blocker.rollbackTransaction();
        await blocker.release();
        spy.mockRestore();
      }
    }

    onPostgres(
      'a batch runs its settles before its reserves, so what a settle frees is free to them',
      async () => {
        const tenant = await t.tenant({ period: 'MONTHLY', limitUsd: '1' });
        const [budget] = tenant.budgetIds as [string];
        const a = await hold(tenant, 'a', '0.6');
        const { results, batches } = await behindABlockedBatch(
          budget,
          () => hold(tenant, 'c', '0.05'),
          async () => {
            // B is sent before A's settle: in that order it would not fit (0.6 + 0.05 + 0.8 > 1)
            const b = hold(tenant, 'b', '0.8').then(
              (h) => h.id,
              (e: Error) => e.message,
            );
            await new Promise((r) => setTimeout(r, 50));
            const settled = t.reservations.recordUsage(a, usageRow(tenant, 'a', parseUsd('0.1')));
            return [b, settled];
          },
        );
        const [b, settled] = results as [string, { counters: { spent: bigint }[] }];
        expect(b).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
        expect(settled.counters.map((x) => x.spent)).toEqual([parseUsd('0.1')]);
        expect(batches).toEqual([['reserve'], ['reserve', 'settle']]);
        expect(await t.books(tenant.projectId, budget)).toMatchObject({
          spent: '0.100000000000',
          reserved: '0.850000000000',
          usageCost: '0.100000000000',
          usageRows: 1,
          activeReservations: 2,
        });
      },
    );

    onPostgres('an item that fails in a batch fails alone: the others in its batch are written', async () => {
      const tenant = await t.tenant({ period: 'MONTHLY', limitUsd: '1' });
      const [budget] = tenant.budgetIds as [string];
      const noBudget: Hold = { id: null, amount: 0n, budgets: [] };
      const bad = { ...usageRow(tenant, 'bad', 0n), project_id: null as unknown as string };
      const { results, batches } = await behindABlockedBatch(
        budget,
        () => hold(tenant, 'first', '0.1'),
        async () => [
          hold(tenant, 'x', '0.1'),
          // a usage record without a project: the database refuses it (NOT NULL)
          t.reservations.recordUsage(noBudget, bad).then(
            () => 'written',
            (e: Error) => e.message,
          ),
          hold(tenant, 'y', '0.1'),
        ],
      );
      const [x, refused, y] = results;
      expect(refused).toMatch(/null value/);
      expect([typeof x, typeof y]).toEqual(['object', 'object']);
      // the batch of three failed, then each ran alone
      expect(batches.map((ops) => ops.length)).toEqual([1, 3, 1, 1, 1]);
      expect(await t.books(tenant.projectId, budget)).toMatchObject({
        reserved: '0.300000000000',
        usageRows: 0,
        activeReservations: 3,
      });
    });

    onPostgres(
      'a batch stuck in the database is given up after its timeout, and the next one goes',
      async () => {
        // (a second: the next call opens a new connection, whose first batch compiles and plans the
        // ledger's functions, and the whole suite may be running beside it)
        const quick = await InProcess.start({ ledgerTimeoutMs: 1_000, chargeAbandoned: false });
        try {
          const tenant = await quick.tenant({ period: 'MONTHLY', limitUsd: '1' });
          const [budget] = tenant.budgetIds as [string];
          const reserve = (id: string) =>
            quick.reservations.reserveHold({
              projectId: tenant.projectId,
              apiKeyId: tenant.keyId,
              requestId: id,
              amount: parseUsd('0.1'),
              abandoned: abandonedRow(),
            });
          await reserve('warm');
          const blocker = quick.db.createQueryRunner();
          await blocker.connect();
          try {
            await blocker.startTransaction();
            await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = $1 FOR UPDATE', [budget]);
            const started = Date.now();
            const stuck = await reserve('stuck').then(
              () => 'reserved',
              (e: Error) => e.message,
            );
            expect(stuck).toBe('Query read timeout');
            expect(Date.now() - started).toBeLessThan(5_000);
            await blocker.commitTransaction();
          } finally {
            if (blocker.isTransactionActive) await blocker.rollbackTransaction();
            await blocker.release();
          }
          expect((await reserve('next')).id).toEqual(expect.any(String));
          await eventually(
            () => ledgerBatches(quick.db, `state = 'active'`),
            (n) => n === 0,
          );
          // The stuck statement still committed once the lock came free (its client had given up): a
          // hold nobody will settle or renew, like a crashed call's, which the sweeper takes after its TTL.
          expect(await quick.books(tenant.projectId, budget)).toMatchObject({
            reserved: '0.300000000000',
            activeReservations: 3,
          });
          await quick.db.query(
            `UPDATE reservations SET expires_at = now() - interval '1 second' WHERE request_id = 'stuck' AND project_id = $1`,
            [tenant.projectId],
          );
          expect(await quick.reservations.sweepExpiredHolds()).toMatchObject({ released: 1 });
          expect(await quick.books(tenant.projectId, budget)).toMatchObject({
            reserved: '0.200000000000',
            activeReservations: 2,
          });
        } finally {
          await quick.close();
        }
      },
    );
  });
});

/** The reserve item of a second call of `tenant` on the same budgets as `first`, as the service builds it. */
async function reserveItem(
  t: InProcess,
  tenant: { projectId: string; keyId: string },
  first: Hold,
  requestId: string,
  usd: string,
) {
  const rows = (await t.db.query(
    `SELECT id, limit_usd::text AS lim, period, time_zone FROM budgets
      WHERE project_id = $1 AND (api_key_id IS NULL OR api_key_id = $2) ORDER BY id`,
    [tenant.projectId, tenant.keyId],
  )) as { id: string; lim: string; period: string; time_zone: string }[];
  return {
    project: tenant.projectId,
    key: tenant.keyId,
    request: requestId,
    amount: usd,
    ttlMs: 60_000,
    signature: rows.map((r) => `${r.id}:${r.lim}:${r.period}:${r.time_zone}`).join(','),
    budgets: first.budgets.map((b) => b.id),
    starts: first.budgets.map((b) => b.periodStart.toISOString()),
    limits: rows.map((r) => r.lim),
    usage: abandonedRow(),
  };
}

/** Other backends running a ledger batch that match `where` (waiting on a lock, still active). */
async function ledgerBatches(db: InProcess['db'], where: string): Promise<number> {
  const [row] = (await db.query(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE query LIKE '%tollgate_ledger_batch%' AND pid <> pg_backend_pid() AND ${where}`,
  )) as { n: number }[];
  return row!.n;
}

/** A reserve for a project with no budget (nothing to hold), its lists of budgets left out. */
function unbudgetedItem(tenant: { projectId: string; keyId: string }) {
  return {
    project: tenant.projectId,
    key: tenant.keyId,
    request: 'free',
    amount: '0.1',
    ttlMs: 60_000,
    signature: '',
    usage: abandonedRow(),
  };
}

/** A budget's counters by period start: spent or reserved. */
async function countersOf(t: InProcess, budgetId: string, column: 'spent' | 'reserved') {
  const rows = (await t.db.query(
    // (requests = 0: the empty counter a budget gets for the window it is created in is not a period with calls)
    `SELECT period_start, ${column}::text AS amount FROM budget_counters
      WHERE budget_id = $1 AND (requests > 0 OR reserved > 0) ORDER BY period_start`,
    [budgetId],
  )) as { period_start: Date; amount: string }[];
  return Object.fromEntries(rows.map((r) => [new Date(r.period_start).toISOString(), parseUsd(r.amount)]));
}

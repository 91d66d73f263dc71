import crypto from 'node:crypto';
import { formatUsd, parseUsd } from '../../src/shared/money';
import { alertsOf, billingTenant, ledger, worstCaseOf, worstCaseReply } from '../support/billing';
import { FakeUpstream } from '../support/fake-upstream';
import { eventually, TestServer, user } from '../support/harness';

const CALL = { model: 'deepseek-chat', messages: user('How many tokens is this?'), maxTokens: 200 };

/**
 * Resolves once a whole sweep round has run after the call. Each round deletes the idempotency
 * records past their expiry before it re-runs the alert rules, and rounds never overlap: an expired
 * record planted and then gone means a round began after the plant; a second one planted after that
 * and gone too means the first of those rounds ran to its end.
 */
async function aWholeSweep(t: TestServer, projectId: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const requestId = `sweep-marker-${crypto.randomUUID()}`;
    await t.app.db.query(
      `INSERT INTO idempotency_records (project_id, request_id, status, expires_at)
       VALUES ($1, $2, 'DONE', now() - interval '1 second')`,
      [projectId, requestId],
    );
    await eventually(
      () => t.count('idempotency_records', 'project_id = $1 AND request_id = $2', [projectId, requestId]),
      (n) => n === 0,
    );
  }
}

describe('budget policies, and limits changed mid-period', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    upstream.handler = worstCaseReply;
    // The sweeper runs every second, as it would every 30 s in production: the lowered-limit test
    // waits for its next round. Its alert rules re-run on counters changed within 3 rounds.
    t = await TestServer.start({ TOLLGATE_SWEEP_INTERVAL_MS: '1000' });
    t.defer(() => upstream.stop());
  }, 120_000);

  afterAll(() => t.close());

  describe('policies', () => {
    it('DOWNGRADE serves the call on the cheapest model that fits, charged at that model', async () => {
      const { projectId, admin, client } = await billingTenant(t, upstream, 'downgrade');
      const asked = { ...CALL, model: 'gpt-4.1', maxTokens: 1000 };
      const gpt = await worstCaseOf(t, client.key, asked);
      const deepseek = await worstCaseOf(t, client.key, { ...asked, model: 'deepseek-chat' });
      const gemini = await worstCaseOf(t, client.key, { ...asked, model: 'gemini-2.5-flash' });
      expect(deepseek < gemini && gemini < gpt).toBe(true);
      // gemini and deepseek both fit; gpt-4.1 does not
      const budget = await t.createBudget(admin, {
        period: 'DAILY',
        limitUsd: formatUsd(gemini + 1n),
        policy: 'DOWNGRADE',
      });
      const before = upstream.calls.length;

      const result = await t.complete(client.key, asked);
      expect(result.errors).toBeUndefined();
      const completion = result.data!.createChatCompletion;
      expect(completion).toMatchObject({
        model: 'deepseek-chat',
        cost: formatUsd(deepseek),
        routing: { modelRequested: 'gpt-4.1', model: 'deepseek-chat', downgraded: true },
      });
      expect(upstream.calls.slice(before).map((c) => c.body.model)).toEqual(['deepseek-chat']);
      const [row] = (await t.app.db.query(
        `SELECT model_requested, model_served, downgraded, cost::text AS cost FROM usage_records WHERE id = $1`,
        [completion.id],
      )) as { model_requested: string; model_served: string; downgraded: boolean; cost: string }[];
      expect(row).toMatchObject({
        model_requested: 'gpt-4.1',
        model_served: 'deepseek-chat',
        downgraded: true,
      });
      expect(parseUsd(row!.cost)).toBe(deepseek);
      const books = await ledger(t, projectId, budget);
      expect(books).toMatchObject({
        spent: deepseek,
        reserved: 0n,
        usageCost: deepseek,
        activeReservations: 0,
      });

      // Downgraded calls go on while deepseek-chat fits; then the call is refused, with nothing
      // more charged or held.
      let served = 1;
      for (;;) {
        const next = await t.complete(client.key, asked);
        if (next.errors) {
          expect(next.errors[0]!.extensions?.code).toBe('BUDGET_EXCEEDED');
          break;
        }
        expect(next.data!.createChatCompletion).toMatchObject({
          model: 'deepseek-chat',
          cost: formatUsd(deepseek),
        });
        served++;
        expect(served).toBeLessThan(100);
      }
      expect(BigInt(served)).toBe((gemini + 1n) / deepseek);
      expect(await ledger(t, projectId, budget)).toEqual({
        spent: deepseek * BigInt(served),
        reserved: 0n,
        requests: served,
        usageCost: deepseek * BigInt(served),
        usageRows: served,
        activeReservations: 0,
      });
    });

    it('REJECT refuses with currentSpend, projectedSpend, budgetLimit and shortfall; nothing charged or held', async () => {
      const { projectId, admin, client } = await billingTenant(t, upstream, 'reject');
      const cost = await worstCaseOf(t, client.key, CALL);
      const limit = cost + cost / 2n;
      const budget = await t.createBudget(admin, { period: 'DAILY', limitUsd: formatUsd(limit) });

      const first = await t.complete(client.key, CALL);
      expect(first.errors).toBeUndefined();
      const before = upstream.calls.length;
      const refused = await t.complete(client.key, CALL);
      expect(refused.data).toBeNull();
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors![0]!.extensions).toMatchObject({
        code: 'BUDGET_EXCEEDED',
        budgetId: budget,
        period: 'DAILY',
        scope: 'PROJECT',
        currentSpend: formatUsd(cost),
        projectedSpend: formatUsd(cost * 2n),
        budgetLimit: formatUsd(limit),
        shortfall: formatUsd(cost * 2n - limit),
      });
      expect(upstream.calls.length).toBe(before);
      expect(await ledger(t, projectId, budget)).toEqual({
        spent: cost,
        reserved: 0n,
        requests: 1,
        usageCost: cost,
        usageRows: 1,
        activeReservations: 0,
      });
      expect(await t.count('reservations', 'project_id = $1', [projectId])).toBe(1);
    });

    it('a REJECT budget that does not fit refuses the call even when a DOWNGRADE budget is checked first', async () => {
      const { projectId, admin, client } = await billingTenant(t, upstream, 'reject-wins');
      const asked = { ...CALL, model: 'gpt-4.1', maxTokens: 1000 };
      const gpt = await worstCaseOf(t, client.key, asked);
      const deepseek = await worstCaseOf(t, client.key, { ...asked, model: 'deepseek-chat' });
      const fitsOnlyDeepseek = formatUsd(deepseek + 1n);
      expect(deepseek + 1n < gpt).toBe(true);
      const downgrade = await t.createBudget(admin, {
        period: 'DAILY',
        limitUsd: fitsOnlyDeepseek,
        policy: 'DOWNGRADE',
      });
      const reject = await t.createBudget(admin, { period: 'MONTHLY', limitUsd: fitsOnlyDeepseek });
      // Budgets are locked in id order: put the DOWNGRADE one first, whatever ids they were given.
      const first = '00000000-0000-4000-8000-000000000000';
      const last = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
      // (their empty current-window counters, made at creation, go first: they reference the old ids)
      await t.app.db.query('DELETE FROM budget_counters WHERE budget_id = ANY($1)', [[downgrade, reject]]);
      await t.app.db.query('UPDATE budgets SET id = $1 WHERE id = $2', [first, downgrade]);
      await t.app.db.query('UPDATE budgets SET id = $1 WHERE id = $2', [last, reject]);
      const before = upstream.calls.length;

      const result = await t.complete(client.key, asked);
      expect(result.errors?.[0]?.extensions).toMatchObject({
        code: 'BUDGET_EXCEEDED',
        budgetId: last,
        period: 'MONTHLY',
        budgetLimit: fitsOnlyDeepseek,
      });
      expect(upstream.calls.length).toBe(before);
      for (const id of [first, last]) {
        expect(await ledger(t, projectId, id)).toMatchObject({ spent: 0n, reserved: 0n, usageRows: 0 });
      }
    });
  });

  it('fires a threshold passed without a crossing (limit lowered mid-period) at the next sweep, once', async () => {
    const { projectId, admin, client } = await billingTenant(t, upstream, 'lowered-limit');
    const cost = await worstCaseOf(t, client.key, CALL);
    // Ten calls fit; the first six pass 50% (at the sixth) but not 75%.
    const budget = await t.createBudget(admin, {
      period: 'MONTHLY',
      limitUsd: formatUsd(cost * 10n),
      thresholds: [0.5, 0.75],
    });
    for (let i = 0; i < 6; i++) expect((await t.complete(client.key, CALL)).errors).toBeUndefined();
    const thresholds = async () =>
      (await alertsOf(t, budget)).map((a) => a.alert).filter((a) => a.startsWith('BUDGET_THRESHOLD'));
    expect(await thresholds()).toEqual(['BUDGET_THRESHOLD 0.5 x1']);
    // $6 of a $7 limit is 86%: past 75% although no call crossed it. The next sweep fires it, once.
    await t.ok(
      'mutation($id: ID!, $input: UpdateBudgetInput!) { updateBudget(id: $id, input: $input) { id } }',
      { id: budget, input: { limitUsd: formatUsd(cost * 7n) } },
      admin,
    );
    const fired = await eventually(thresholds, (a) => a.length > 1);
    expect(fired).toEqual(['BUDGET_THRESHOLD 0.5 x1', 'BUDGET_THRESHOLD 0.75 x1']);
    await aWholeSweep(t, projectId);
    expect(await thresholds()).toEqual(['BUDGET_THRESHOLD 0.5 x1', 'BUDGET_THRESHOLD 0.75 x1']);
    const books = await ledger(t, projectId, budget);
    expect(books.spent).toBe(cost * 6n);
  });
});

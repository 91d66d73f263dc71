import crypto from 'node:crypto';
import { requestHash } from '../../src/modules/completions/completion.service';
import { validateRequest } from '../../src/modules/completions/completion.validation';
import { formatUsd, parseUsd } from '../../src/shared/money';
import { addBillingCatalog, clearOfMidnight, ledger, worstCaseReply } from '../support/billing';
import { FakeUpstream } from '../support/fake-upstream';
import { eventually, user } from '../support/harness';
import { abandonedRow, InProcess, usageRow } from '../support/in-process';

const SHORT = { model: 'deepseek-chat', messages: user('How many tokens is this?'), maxTokens: 50 };
const CREATE_BUDGET = 'mutation($input: CreateBudgetInput!) { createBudget(input: $input) { id } }';

/**
 * What an instance that died mid-call leaves behind (a settle without its alert, a claim and a hold
 * without their call), made with the services, and picked up by the living: the sweep, and the
 * completion pipeline through the real resolvers (Apollo's executeOperation, no HTTP server).
 */
describe('what a dead instance leaves behind (in process)', () => {
  let t: InProcess;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await InProcess.start({ env: { TOLLGATE_IDEMPOTENCY_LEASE_MS: '500' } });
    await clearOfMidnight();
  }, 120_000);
  afterAll(async () => {
    await t.close();
    await upstream.stop();
  });
  beforeEach(() => upstream.reset());

  const createBudget = async (adminKey: string, input: Record<string, unknown>) =>
    (await t.ok<{ createBudget: { id: string } }>(CREATE_BUDGET, { input }, adminKey)).createBudget.id;

  it('the alert sweep fires a threshold whose settle committed without its alert (a crash between), once', async () => {
    const { projectId, adminKey, client } = await t.keyedProject('sweep-alerts');
    const budgetId = await createBudget(adminKey, { period: 'DAILY', limitUsd: '1', thresholds: [0.5] });
    // what the hot path does, minus the alert write: as if the process died right after the settle
    const tenant = { projectId, keyId: client.id };
    const hold = await t.reservations.reserveHold({
      projectId,
      apiKeyId: client.id,
      requestId: 'lost-alert',
      amount: 600_000_000_000n,
      abandoned: abandonedRow(),
    });
    const settled = await t.reservations.recordUsage(hold, usageRow(tenant, 'lost-alert', 600_000_000_000n));
    expect(settled.counters[0]!.spent).toBe(600_000_000_000n);
    expect(await t.count('alerts', 'budget_id = $1', [budgetId])).toBe(0);

    const fired = await t.services.alerts.sweep(60_000);
    expect(fired.filter((a) => a.budgetId === budgetId).map((a) => a.type)).toContain('BUDGET_THRESHOLD');
    expect(await t.services.alerts.sweep(60_000)).toEqual([]);
    expect(await t.count('alerts', `budget_id = $1 AND type = 'BUDGET_THRESHOLD'`, [budgetId])).toBe(1);
    // and the project's alert history shows it, once
    const history = await t.ok<{ alerts: { type: string; threshold: number | null }[] }>(
      '{ alerts(days: 1) { type threshold } }',
      {},
      adminKey,
    );
    expect(history.alerts.filter((a) => a.type === 'BUDGET_THRESHOLD')).toEqual([
      { type: 'BUDGET_THRESHOLD', threshold: 0.5 },
    ]);
  });

  const onPostgres = process.env.DATABASE_URL ? it : it.skip;

  onPostgres(
    "a running call's lease is renewed; a record locked meanwhile is skipped, not waited for",
    async () => {
      const { projectId } = await t.keyedProject('renewed-leases');
      const leaseOf = async (requestId: string) =>
        (
          (await t.db.query(
            `SELECT lease_until FROM idempotency_records WHERE project_id = $1 AND request_id = $2`,
            [projectId, requestId],
          )) as { lease_until: Date }[]
        )[0]!.lease_until.getTime();
      let finish!: () => void;
      const running = new Promise<void>((resolve) => (finish = resolve));
      // two calls that run until told to stop (then fail, which leaves no record)
      const calls = ['lease-a', 'lease-b'].map((requestId) =>
        t.services.idempotency
          .once(projectId, requestId, 'hash', async () => {
            await running;
            throw new Error('stopped by the test');
          })
          .catch(() => undefined),
      );
      await eventually(
        () => t.count('idempotency_records', 'project_id = $1', [projectId]),
        (n) => n === 2,
      );
      const blocker = t.db.createQueryRunner();
      await blocker.connect();
      try {
        await blocker.startTransaction();
        await blocker.query(
          `SELECT 1 FROM idempotency_records WHERE project_id = $1 AND request_id = 'lease-a' FOR UPDATE`,
          [projectId],
        );
        const [a, b] = [await leaseOf('lease-a'), await leaseOf('lease-b')];
        // the renewer runs every third of the 500 ms lease: b is renewed while a stays locked
        await eventually(
          () => leaseOf('lease-b'),
          (renewed) => renewed > b,
          2_000,
        );
        expect(await leaseOf('lease-a')).toBe(a);
      } finally {
        if (blocker.isTransactionActive) await blocker.rollbackTransaction();
        await blocker.release();
        finish();
        await Promise.all(calls);
      }
    },
  );

  it('a requestId whose call died is claimed again once its lease lapses: run once more, charged once', async () => {
    const { projectId, adminKey, client } = await t.keyedProject('lapsed');
    await addBillingCatalog(t, adminKey, upstream.baseUrl);
    upstream.handler = worstCaseReply;
    const budget = await createBudget(adminKey, { period: 'DAILY', limitUsd: '1' });
    const requestId = `died-${crypto.randomUUID()}`;
    // What an instance that died mid-call leaves: its claim (lease lapsed) and its hold (not expired).
    // The request as the GraphQL door hands it to the pipeline.
    const asSent = { model: SHORT.model, messages: SHORT.messages, max_tokens: SHORT.maxTokens };
    const hash = requestHash(validateRequest({ body: asSent, requestId }, t.config));
    await t.reservations.reserveHold({
      projectId,
      apiKeyId: client.id,
      requestId,
      amount: parseUsd('0.2'),
      abandoned: abandonedRow({ prompt: 10, completion: 50 }),
    });
    await t.db.query(
      `INSERT INTO idempotency_records (project_id, request_id, status, request_hash, lease_until, expires_at)
       VALUES ($1, $2, 'IN_PROGRESS', $3, now() - interval '1 second', now() + interval '1 day')`,
      [projectId, requestId, hash],
    );
    const started = performance.now();
    const retried = await t.complete(client.key, { ...SHORT, requestId });
    expect(retried.errors).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(upstream.calls).toHaveLength(1);
    const cost = parseUsd(retried.data!.createChatCompletion.cost as string);
    // one charge for the requestId: the retry's; the dead call's hold gave way to it
    expect(await t.count('usage_records', 'request_id = $1', [requestId])).toBe(1);
    expect(await ledger(t, projectId, budget)).toMatchObject({
      spent: cost,
      reserved: 0n,
      usageCost: cost,
      activeReservations: 0,
    });
    const replay = await t.complete(client.key, { ...SHORT, requestId });
    expect(replay.data!.createChatCompletion).toMatchObject({ replayed: true, cost: formatUsd(cost) });
  });
});

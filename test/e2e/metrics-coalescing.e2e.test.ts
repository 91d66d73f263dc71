import { parseUsd } from '../../src/shared/money';
import { eventually, subscribed, TestServer, user } from '../support/harness';

describe('budgetMetrics is coalesced: a burst gives a bounded number of pushes, the last one exact', () => {
  let t: TestServer;

  beforeAll(async () => {
    // a 200 ms window: at most ~5 pushes a second per project, whatever the call rate
    t = await TestServer.start({ TOLLGATE_METRICS_COALESCE_MS: '200' });
  }, 120_000);
  afterAll(() => t.close());

  it('1,000 calls', async () => {
    const { adminKey, projectId } = await t.createProject('burst');
    await t.addCatalog(adminKey);
    await t.createBudget(adminKey, { period: 'DAILY', limitUsd: '1000' });
    const client = (await t.createKey(adminKey, 'CLIENT')).key;

    const pushes: ({ spent: string; requests: number } | undefined)[] = [];
    const ws = t.wsClient(client);
    ws.subscribe<{ budgetMetrics: { budgets: { spent: string; requests: number }[] } }>(
      { query: 'subscription { budgetMetrics { budgets { spent requests } } }' },
      {
        next: (m) => pushes.push(m.data!.budgetMetrics.budgets[0]),
        error: () => undefined,
        complete: () => undefined,
      },
    );
    await subscribed(ws);

    const started = performance.now();
    const burst = 1000;
    for (let sent = 0; sent < burst; sent += 50) {
      const wave = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          t.complete(client, { model: 'deepseek-chat', messages: user(`n${sent + i}`), maxTokens: 20 }),
        ),
      );
      expect(wave.filter((r) => r.errors)).toEqual([]);
    }
    const seconds = (performance.now() - started) / 1000;

    const [final] = (await t.app.db.query(
      `SELECT c.spent::text AS spent, c.requests FROM budget_counters c JOIN budgets b ON b.id = c.budget_id
        WHERE b.project_id = $1`,
      [projectId],
    )) as { spent: string; requests: number }[];
    expect(final!.requests).toBe(burst);
    const last = await eventually(
      () => pushes.at(-1),
      (p) => p?.requests === burst,
    );
    expect(parseUsd(last!.spent)).toBe(parseUsd(final!.spent)); // exact, to the pico-dollar
    // bounded: about one push per window while the burst lasted (plus the trailing one), never one per call
    expect(pushes.length).toBeLessThanOrEqual(Math.ceil(seconds / 0.2) + 3);
    expect(pushes.length).toBeLessThan(burst / 10);
  }, 120_000);
});

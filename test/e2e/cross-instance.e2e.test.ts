import crypto from 'node:crypto';
import { formatUsd } from '../../src/shared/money';
import { worstCaseOf } from '../support/billing';
import { eventually, subscribed, TestServer, user } from '../support/harness';

// Two instances on one database: live events must reach subscribers wherever the call was served.
const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;

const buses: [string, Record<string, string>][] = [['Postgres LISTEN/NOTIFY', {}]];
if (process.env.REDIS_URL) buses.push(['Redis pub/sub', { REDIS_URL: process.env.REDIS_URL }]);

describe.each(buses)('live events across instances (%s)', (_name, busEnv: Record<string, string>) => {
  withPostgres('a subscriber on instance 1, a call served by instance 2', () => {
    let one: TestServer;
    let two: TestServer;
    let admin: string;
    let client: string;

    beforeAll(async () => {
      const env = { TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex'), ...busEnv };
      one = await TestServer.start(env);
      two = await TestServer.start(env, { databaseUrl: one.config.databaseUrl });
      ({ adminKey: admin } = await one.createProject('shared'));
      await one.addCatalog(admin);
      client = (await one.createKey(admin, 'CLIENT')).key;
    }, 120_000);
    afterAll(async () => {
      await two.close();
      await one.close();
    });

    it('delivers the alert and the new budget metrics to the subscriber on the other instance, once', async () => {
      // A budget of 4x one call, created after the first call (which it counts: it starts from the ledger).
      const input = { model: 'gpt-4.1', messages: user('cross the line'), maxTokens: 50 };
      const first = await two.complete(client, input);
      expect(first.errors).toBeUndefined();
      const cost = Number(first.data!.createChatCompletion.cost);
      // The day of a zone where it is now about noon: spend at this rate projects to about twice
      // itself, so 1/4 of the limit projects under it and 3/4 over it, whatever the hour in UTC.
      const budget = await one.createBudget(admin, {
        period: 'DAILY',
        timeZone: zoneAtNoon(new Date()),
        limitUsd: (cost * 4).toFixed(12),
        thresholds: [0.5],
      });

      const alerts: { type: string; threshold: number; budgetId: string }[] = [];
      const metrics: { spent: string }[][] = [];
      const ws = one.wsClient(client);
      ws.subscribe<{ alerts: { type: string; threshold: number; budgetId: string } }>(
        { query: 'subscription { alerts { type threshold severity budgetId } }' },
        { next: (m) => alerts.push(m.data!.alerts), error: () => undefined, complete: () => undefined },
      );
      ws.subscribe<{ budgetMetrics: { budgets: { spent: string }[] } }>(
        { query: 'subscription { budgetMetrics { budgets { spent } } }' },
        {
          next: (m) => metrics.push(m.data!.budgetMetrics.budgets),
          error: () => undefined,
          complete: () => undefined,
        },
      );
      await subscribed(ws);

      // Two more identical calls on instance 2: spend goes 1/4 -> 3/4, crossing 50% once.
      for (let i = 0; i < 2; i++) expect((await two.complete(client, input)).errors).toBeUndefined();

      await eventually(
        () => alerts.length,
        (n) => n >= 1,
      );
      await eventually(
        () => metrics.at(-1)?.[0]?.spent,
        (s) => s !== undefined && Number(s) >= cost * 2 - 1e-12,
      );
      // A marker: another key's call on instance 2 that passes half of that key's own small budget.
      // Its alerts are published after the ones above, so any second delivery of those comes first.
      const other = await one.createKey(admin, 'CLIENT', 'marker');
      const small = { model: 'deepseek-chat', messages: user('marker'), maxTokens: 1 };
      const worst = await worstCaseOf(one, other.key, small);
      const marker = await one.createBudget(admin, {
        apiKeyId: other.id,
        period: 'DAILY',
        limitUsd: formatUsd(worst + worst / 4n),
        thresholds: [0.5],
      });
      expect((await two.complete(other.key, small)).errors).toBeUndefined();
      await eventually(
        () => alerts.some((a) => a.budgetId === marker),
        (seen) => seen,
      );
      // The 50% threshold, and the projection of a day at this rate past the limit: each exactly once.
      const ours = alerts.filter((a) => a.budgetId !== marker);
      expect(ours.filter((a) => a.type === 'BUDGET_THRESHOLD')).toEqual([
        { type: 'BUDGET_THRESHOLD', threshold: 0.5, severity: 'WARNING', budgetId: budget },
      ]);
      expect(ours.filter((a) => a.type === 'PROJECTED_OVERRUN')).toHaveLength(1);
      expect(ours).toHaveLength(2);
    });
  });
});

/** A fixed-offset zone whose local time is now between 12:00 and 13:00 ('Etc/GMT-5' is UTC+5). */
function zoneAtNoon(now: Date): string {
  const offset = 12 - now.getUTCHours(); // -11 to +12
  return offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
}

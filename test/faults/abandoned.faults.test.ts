import crypto from 'node:crypto';
import type http from 'node:http';
import { Client } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { parseUsd } from '../../src/shared/money';
import { ChildServer, COMPLETE, gql, setupProject } from './support';

const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;

/**
 * kill -9 after the upstream answered 50 calls and before any was settled: the provider billed
 * them, so the ledger must not forget them (their holds are charged as ABANDONED), and retrying
 * their requestIds on another instance must neither hang on the dead claims nor charge twice.
 */
withPostgres('an instance dies between the upstream answers and the settles', () => {
  let database: TestDatabase;
  let upstream: FakeUpstream;
  const secret = crypto.randomBytes(32).toString('hex'); // one deployment: one key sealing upstream keys
  const env = () => ({
    DATABASE_URL: database.url!,
    TOLLGATE_SECRET_KEY: secret,
    TOLLGATE_RESERVATION_TTL_MS: '2000',
    TOLLGATE_SWEEP_INTERVAL_MS: '200',
    TOLLGATE_IDEMPOTENCY_LEASE_MS: '1000',
  });

  beforeAll(async () => {
    database = await createTestDatabase();
    upstream = await new FakeUpstream().start();
  });
  afterAll(async () => {
    await upstream.stop();
    await database.drop();
  });

  it('charges the 50 (ABANDONED) after the sweep; their retries elsewhere return within the lease, charged once', async () => {
    const first = new ChildServer(env());
    await first.start();
    const url = await first.url();
    const { client, budgetId } = await setupProject(url, upstream.baseUrl);

    // The upstream holds its answers until the test lets them go.
    const waiting: { res: http.ServerResponse; model: string }[] = [];
    upstream.handler = (call, res) => void waiting.push({ res, model: call.body.model });
    const ids = Array.from({ length: 50 }, (_, i) => `dying-${i}`);
    const input = (requestId: string) => ({
      i: {
        model: 'deepseek-chat',
        requestId,
        maxTokens: 64,
        messages: [{ role: 'user', content: `call ${requestId}` }],
      },
    });
    const inFlight = ids.map((id) => gql(url, COMPLETE, input(id), client).catch(() => null));
    while (waiting.length < 50) await new Promise((r) => setTimeout(r, 20));

    // Hold the budget's counter, so the settles that follow the answers wait in the database.
    const blocker = new Client({ connectionString: database.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM budget_counters WHERE budget_id = $1 FOR UPDATE', [budgetId]);
    // Each call bills 50 prompt + 20 completion tokens: $0.0000154 at deepseek's prices.
    await Promise.all(
      waiting.map(
        ({ res, model }) =>
          new Promise<void>((resolve) => {
            res.on('finish', () => resolve());
            sendJson(res, 200, completionBody(model, 50, 20));
          }),
      ),
    );
    await waitFor(async () => {
      const { rows } = await blocker.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`,
      );
      return rows[0]!.n > 0;
    });
    expect(await first.stop('SIGKILL')).toBeNull();
    await Promise.all(inFlight);
    // The dead instance's statements die with it (its connections are gone), then the lock is let go.
    await blocker.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    );
    await blocker.query('ROLLBACK');
    const books = async () => {
      const { rows } = await blocker.query<{
        spent: string;
        reserved: string;
        cost: string;
        rows: number;
        abandoned: number;
        active: number;
      }>(
        `SELECT (SELECT sum(spent)::text FROM budget_counters) AS spent, (SELECT sum(reserved)::text FROM budget_counters) AS reserved,
                (SELECT coalesce(sum(cost), 0)::text FROM usage_records) AS cost, (SELECT count(*)::int FROM usage_records) AS rows,
                (SELECT count(*)::int FROM usage_records WHERE outcome = 'ABANDONED') AS abandoned,
                (SELECT count(*)::int FROM reservations WHERE status = 'ACTIVE') AS active`,
      );
      return rows[0]!;
    };
    expect(await books()).toMatchObject({ rows: 0, active: 50 }); // nothing settled

    const second = new ChildServer(env());
    await second.start();
    try {
      await waitFor(async () => (await books()).abandoned === 50, 15_000);
      const swept = await books();
      const billed = parseUsd('0.0000154') * 50n;
      // the ledger covers what the provider billed (it over-counts, never under-counts)
      expect(parseUsd(swept.spent)).toBeGreaterThanOrEqual(billed);
      expect(swept).toMatchObject({ reserved: '0.000000000000', cost: swept.spent, active: 0 });

      // Now the clients retry, on the live instance. Their first calls' claims lapsed with the dead one.
      upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 50, 20));
      const url2 = await second.url();
      const started = performance.now();
      const retries = await Promise.all(
        ids.map((id) => gql<{ createChatCompletion: { cost: string } }>(url2, COMPLETE, input(id), client)),
      );
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(retries.map((r) => r.data?.createChatCompletion.cost ?? JSON.stringify(r.errors))).toEqual(
        Array(50).fill('0.0000154'),
      );
      const after = await books();
      // one charge per requestId: the retries' replaced the placeholders
      expect(after).toMatchObject({ rows: 50, abandoned: 0, reserved: '0.000000000000', active: 0 });
      expect(parseUsd(after.spent)).toBe(billed);
      expect(after.cost).toBe(after.spent);
    } finally {
      await second.stop();
      await blocker.end();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

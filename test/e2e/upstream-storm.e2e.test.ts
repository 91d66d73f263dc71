import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { TestServer, user } from '../support/harness';

describe('an upstream storm of 5xx, hangs and resets', () => {
  let t: TestServer;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    // short timeouts and backoff so hung calls end quickly; a breaker that does not open mid-test
    t = await TestServer.start({
      TOLLGATE_RETRY_BASE_DELAY_MS: '5',
      TOLLGATE_RETRY_MAX_DELAY_MS: '20',
      TOLLGATE_BREAKER_FAILURES: '10000',
    });
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    await upstream.stop();
  });

  it('every call ends in a success or a typed error; nothing stays reserved; the ledger equals the counters', async () => {
    const { adminKey, projectId } = await t.createProject('storm');
    await t.ok(
      'mutation($i: CreateProviderInput!) { createProvider(input: $i) { id } }',
      {
        i: {
          name: 'upstream',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: upstream.baseUrl,
          upstreamKeys: ['sk-x'],
          timeoutMs: 300,
        },
      },
      adminKey,
    );
    await t.ok(
      'mutation($i: ModelInput!) { upsertModel(input: $i) { id } }',
      {
        i: {
          name: 'deepseek-chat',
          provider: 'upstream',
          promptPrice: '0.14',
          completionPrice: '0.42',
          tiers: ['SIMPLE'],
        },
      },
      adminKey,
    );
    await t.createBudget(adminKey, { period: 'DAILY', limitUsd: '10' });
    const client = (await t.createKey(adminKey, 'CLIENT')).key;
    let n = 0;
    upstream.handler = (call, res) => {
      switch (n++ % 5) {
        case 0:
          return sendJson(res, 500, { error: { message: 'boom' } });
        case 1:
          return sendJson(res, 503, { error: { message: 'busy' } }, { 'retry-after-ms': '5' });
        case 2:
          return; // hang: the gateway's 300 ms timeout ends it
        case 3:
          res.socket?.destroy(); // connection reset
          return;
        default:
          return sendJson(res, 200, completionBody(call.body.model, 20, 10));
      }
    };

    const results = await Promise.all(
      Array.from({ length: Number(process.env.STORM_N ?? 200) }, (_, i) =>
        t.complete(client, { model: 'deepseek-chat', messages: user(`s${i}`), maxTokens: 20 }),
      ),
    );
    const codes = new Map<string, number>();
    for (const r of results) {
      const code = r.errors ? String(r.errors[0]!.extensions?.code) : 'OK';
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    for (const code of codes.keys()) expect(['OK', 'UPSTREAM_UNAVAILABLE', 'UPSTREAM_ERROR']).toContain(code);
    expect(codes.get('OK') ?? 0).toBeGreaterThan(0);

    const [books] = (await t.app.db.query(
      `SELECT (SELECT coalesce(sum(cost), 0)::text FROM usage_records WHERE project_id = $1) AS usage,
              (SELECT count(*)::int FROM usage_records WHERE project_id = $1 AND outcome = 'SUCCESS') AS ok,
              (SELECT count(*)::int FROM reservations WHERE project_id = $1 AND status = 'ACTIVE') AS active,
              c.spent::text AS spent, c.reserved::text AS reserved
         FROM budget_counters c JOIN budgets b ON b.id = c.budget_id WHERE b.project_id = $1`,
      [projectId],
    )) as { usage: string; ok: number; active: number; spent: string; reserved: string }[];
    expect(books!.ok).toBe(codes.get('OK'));
    expect(books!.active).toBe(0);
    expect(books!.reserved).toBe('0.000000000000');
    expect(books!.spent).toBe(books!.usage);
  }, 120_000);
});

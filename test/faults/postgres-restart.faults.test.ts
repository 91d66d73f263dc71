import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { ChildServer, COMPLETE, gql, PrivatePostgres, setupProject } from './support';
import { ledger } from './ledger';

const whenPossible = PrivatePostgres.available() ? describe : describe.skip;

whenPossible('Postgres restarted under load', () => {
  let pg: PrivatePostgres;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    pg = new PrivatePostgres();
    await pg.init();
    upstream = await new FakeUpstream().start();
    upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 30, 10));
  }, 60_000);
  afterAll(async () => {
    await upstream.stop();
    pg.destroy();
  });

  it('the server survives, answers typed errors meanwhile, and recovers without a restart', async () => {
    const server = new ChildServer({
      DATABASE_URL: pg.url,
      TOLLGATE_RESERVATION_TTL_MS: '2000',
      TOLLGATE_SWEEP_INTERVAL_MS: '300',
    });
    await server.start();
    const url = await server.url();
    const { client } = await setupProject(url, upstream.baseUrl);
    const codes = new Map<string, number>();
    let stop = false;
    let sent = 0;
    // Completions, and reads that need the database at once (a completion in flight may spend the
    // whole outage retrying its settle, as it should).
    const worker = async (read: boolean) => {
      while (!stop) {
        const n = sent++;
        try {
          const result = read
            ? await gql(url, '{ budgetStatus { spent } }', {}, client)
            : await gql(
                url,
                COMPLETE,
                { i: { model: 'deepseek-chat', messages: [{ role: 'user', content: `n${n}` }] } },
                client,
              );
          const code = result.errors ? String(result.errors[0]!.extensions?.code) : 'OK';
          codes.set(code, (codes.get(code) ?? 0) + 1);
        } catch {
          codes.set('NETWORK', (codes.get('NETWORK') ?? 0) + 1);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const workers = Array.from({ length: 8 }, (_, i) => worker(i % 2 === 0));
    await new Promise((r) => setTimeout(r, 800));
    pg.stop();
    await new Promise((r) => setTimeout(r, 1500));
    pg.start();
    await new Promise((r) => setTimeout(r, 800));
    stop = true;
    await Promise.all(workers);

    // While the database was down, callers got a typed, retryable error, never a dropped connection.
    expect(codes.get('NETWORK') ?? 0).toBe(0);
    expect(codes.get('SERVICE_UNAVAILABLE') ?? 0).toBeGreaterThan(0);
    for (const code of codes.keys())
      expect(['OK', 'SERVICE_UNAVAILABLE', 'UPSTREAM_UNAVAILABLE']).toContain(code);

    // And it serves again without a restart.
    const after = await gql<{ createChatCompletion: { cost: string } }>(
      url,
      COMPLETE,
      { i: { model: 'deepseek-chat', messages: [{ role: 'user', content: 'after' }] } },
      client,
    );
    expect(after.errors).toBeUndefined();
    expect(server.output).not.toMatch(/Tollgate failed|uncaught/i);

    const deadline = Date.now() + 10_000;
    let state = await ledger(pg.url);
    while (state.activeReservations > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      state = await ledger(pg.url);
    }
    expect(state.activeReservations).toBe(0);
    expect(state.spent).toBe(state.usageCost);
    expect([state.rollupCost, state.rollupRows]).toEqual([state.usageCost, state.rows]); // rollups exact
    // nothing lost: every call the upstream answered (and would bill) is in the ledger, the ones
    // caught by the outage included (their settle waited for the database to come back)
    expect(state.rows).toBe(upstream.calls.length);
    expect(await server.stop()).toBe(0);
  });
});

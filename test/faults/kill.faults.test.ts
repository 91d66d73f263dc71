import { createTestDatabase, type TestDatabase } from '../support/database';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { ChildServer, COMPLETE, gql, setupProject } from './support';
import { ledger } from './ledger';

const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;

withPostgres('kill -9 under load, then restart', () => {
  let database: TestDatabase;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    database = await createTestDatabase();
    upstream = await new FakeUpstream().start();
    // Each call takes 150 ms upstream, so plenty are in flight when the server dies.
    upstream.handler = (call, res) => {
      setTimeout(() => sendJson(res, 200, completionBody(call.body.model, 50, 20)), 150);
    };
  });
  afterAll(async () => {
    await upstream.stop();
    await database.drop();
  });

  it('loses no usage row of a call that returned success; reservations are released; ledger equals counters', async () => {
    const env = {
      DATABASE_URL: database.url!,
      TOLLGATE_RESERVATION_TTL_MS: '2000',
      TOLLGATE_SWEEP_INTERVAL_MS: '300',
    };
    const first = new ChildServer(env);
    await first.start();
    const url = await first.url();
    const { client } = await setupProject(url, upstream.baseUrl);

    const succeeded: string[] = [];
    const failed: string[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const requestId = `w${w}-${i}`;
        try {
          const result = await gql<{ createChatCompletion: { requestId: string } }>(
            url,
            COMPLETE,
            {
              i: {
                model: 'deepseek-chat',
                requestId,
                maxTokens: 64,
                messages: [{ role: 'user', content: `call ${requestId}` }],
              },
            },
            client,
          );
          if (result.data?.createChatCompletion) succeeded.push(requestId);
          else failed.push(requestId);
        } catch {
          failed.push(requestId); // connection died with the server
          return;
        }
      }
    };
    const workers = Array.from({ length: 40 }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 1200));
    expect(await first.stop('SIGKILL')).toBeNull();
    stop = true;
    await Promise.all(workers);
    expect(succeeded.length).toBeGreaterThan(40);
    expect(failed.length).toBeGreaterThan(0); // calls were in flight when it died

    const second = new ChildServer(env);
    await second.start();
    try {
      // The sweeper of the restarted instance releases what the dead one held.
      const deadline = Date.now() + 15_000;
      let state = await ledger(database.url!);
      while (state.activeReservations > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        state = await ledger(database.url!);
      }
      expect(state.activeReservations).toBe(0);
      expect(state.reserved).toBe('0.000000000000');
      expect(state.spent).toBe(state.usageCost);
      expect([state.rollupCost, state.rollupRows]).toEqual([state.usageCost, state.rows]); // rollups exact
      for (const id of succeeded) expect(state.requestIds.has(id)).toBe(true);
    } finally {
      await second.stop();
    }
  });
});

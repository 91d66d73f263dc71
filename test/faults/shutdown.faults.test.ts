import { createTestDatabase, type TestDatabase } from '../support/database';
import { completionBody, FakeUpstream, sendJson } from '../support/fake-upstream';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { ChildServer, COMPLETE, gql, setupProject } from './support';
import { ledger } from './ledger';

const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;

withPostgres('graceful shutdown (SIGTERM)', () => {
  let database: TestDatabase;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    database = await createTestDatabase();
    upstream = await new FakeUpstream().start();
  });
  afterAll(async () => {
    await upstream.stop();
    await database.drop();
  });

  it('stops taking work, finishes and settles in-flight calls, closes subscriptions, exits 0', async () => {
    const server = new ChildServer({ DATABASE_URL: database.url! });
    await server.start();
    const url = await server.url();
    const { client } = await setupProject(url, upstream.baseUrl);
    upstream.handler = (call, res) => {
      setTimeout(() => sendJson(res, 200, completionBody(call.body.model, 40, 10)), 1000);
    };

    let closeCode = 0;
    const subscriber = createClient({
      url: url.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${client}` },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined, // the close at shutdown is expected
      on: { closed: (event) => (closeCode = (event as { code: number }).code) },
    });
    subscriber.subscribe(
      { query: 'subscription { budgetMetrics { at } }' },
      { next: () => undefined, error: () => undefined, complete: () => undefined },
    );
    await new Promise<void>((resolve) => subscriber.on('connected', () => resolve()));

    const inflight = Array.from({ length: 20 }, (_, i) =>
      gql<{ createChatCompletion: { requestId: string } }>(
        url,
        COMPLETE,
        {
          i: {
            model: 'deepseek-chat',
            requestId: `drain-${i}`,
            messages: [{ role: 'user', content: `drain ${i}` }],
          },
        },
        client,
      ),
    );
    // SIGTERM once all 20 are in flight (each is waiting on the upstream)
    const deadline = Date.now() + 10_000;
    while (upstream.calls.length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(upstream.calls.length).toBe(20);
    const exited = server.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    // New work is refused once shutdown began (the listener is closed).
    await expect(fetch(url, { method: 'POST', body: '{}' })).rejects.toThrow();

    const results = await Promise.all(inflight);
    expect(results.filter((r) => r.errors)).toEqual([]);
    expect(await exited).toBe(0);
    expect(closeCode).toBe(1001); // the subscription was closed cleanly ("going away")
    await subscriber.dispose();
    expect(server.output).toContain('shutting down');

    const state = await ledger(database.url!);
    expect(state.rows).toBe(20);
    expect(state.activeReservations).toBe(0);
    expect(state.spent).toBe(state.usageCost);
    expect([state.rollupCost, state.rollupRows]).toEqual([state.usageCost, state.rows]); // rollups exact
  });
});

import { TestServer } from '../support/harness';

// A server of its own: the throttle it builds up would slow every other test from 127.0.0.1.
describe('repeated failed authentication is slowed down on every door alike', () => {
  let t: TestServer;

  beforeAll(async () => {
    t = await TestServer.start();
  }, 120_000);
  afterAll(() => t.close());

  const rest = (key: string) =>
    fetch(t.app.url.replace('/graphql', '/v1/models'), { headers: { authorization: `Bearer ${key}` } });
  const graphql = (key: string) =>
    fetch(t.app.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { kind } }' }),
    });
  const timed = async (call: () => Promise<Response>) => {
    const started = performance.now();
    const response = await call();
    return { status: response.status, body: await response.text(), ms: performance.now() - started };
  };

  it('ten bad keys on the REST door hold back the next attempts, on GraphQL too, doubling', async () => {
    for (let i = 0; i < 10; i++) {
      expect((await timed(() => rest(`tg_wrong_key_${i}_0123456789abcdef`))).status).toBe(401);
    }
    const first = await timed(() => graphql('tg_wrong_key_x_0123456789abcdef'));
    expect(first.body).toContain('UNAUTHENTICATED');
    expect(first.ms).toBeGreaterThanOrEqual(100);
    const second = await timed(() => rest('tg_wrong_key_y_0123456789abcdef'));
    expect(second.status).toBe(401);
    expect(second.ms).toBeGreaterThanOrEqual(200);
  });
});

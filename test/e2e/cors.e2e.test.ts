import { TestServer } from '../support/harness';

const APP = 'https://app.example';

async function preflight(t: TestServer, origin: string): Promise<Response> {
  return fetch(t.app.url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  });
}

async function post(t: TestServer, origin: string): Promise<Response> {
  return fetch(t.app.url, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
}

describe('CORS on /graphql', () => {
  describe('without TOLLGATE_CORS_ORIGINS', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await TestServer.start();
    }, 120_000);
    afterAll(() => t.close());

    it('allows no browser origin', async () => {
      const options = await preflight(t, APP);
      expect(options.headers.get('access-control-allow-origin')).toBeNull();
      expect(options.headers.get('access-control-allow-headers')).toBeNull();
      const answer = await post(t, APP);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    });
  });

  describe('with TOLLGATE_CORS_ORIGINS', () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await TestServer.start({ TOLLGATE_CORS_ORIGINS: APP });
    }, 120_000);
    afterAll(() => t.close());

    it('answers the preflight of a listed origin, with the headers a client sends', async () => {
      const options = await preflight(t, APP);
      expect(options.status).toBe(204);
      expect(options.headers.get('access-control-allow-origin')).toBe(APP);
      expect(options.headers.get('access-control-allow-headers')).toBe(
        'authorization,content-type,apollo-require-preflight,x-apollo-operation-name',
      );
      expect(options.headers.get('access-control-max-age')).toBe('600');
      const answer = await post(t, APP);
      expect(answer.status).toBe(200);
      expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    });

    it('allows no other origin', async () => {
      const options = await preflight(t, 'https://evil.example');
      expect(options.headers.get('access-control-allow-origin')).toBeNull();
      const answer = await post(t, 'https://evil.example');
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});

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

async function post(t: TestServer, origin: string, query = '{ __typename }'): Promise<Response> {
  return fetch(t.app.url, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ query }),
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

    it('runs a known operation through the CORS chain, with its headers, as Apollo answered it', async () => {
      const known = async () => {
        const text = await (await fetch(t.app.url.replace('/graphql', '/metrics'))).text();
        return Number(/^tollgate_graphql_known_operations_total (\S+)$/m.exec(text)?.[1] ?? 0);
      };
      const before = await known();
      const query = '{ __typename } # new to this server';
      const first = await post(t, APP, query);
      expect(await known()).toBe(before);
      const second = await post(t, APP, query);
      expect(await known()).toBe(before + 1);
      for (const answer of [first, second]) {
        expect(answer.status).toBe(200);
        expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
        expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
        // Apollo's express answer (res.send) and the known path's alike: no ETag
        expect(answer.headers.get('etag')).toBeNull();
      }
      expect(await second.json()).toEqual(await first.json());
    });

    it('allows no other origin', async () => {
      const options = await preflight(t, 'https://evil.example');
      expect(options.headers.get('access-control-allow-origin')).toBeNull();
      const answer = await post(t, 'https://evil.example');
      expect(answer.headers.get('access-control-allow-origin')).toBeNull();
    });
  });
});

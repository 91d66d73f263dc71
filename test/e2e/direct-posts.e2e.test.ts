import http from 'node:http';
import zlib from 'node:zlib';
import { TestServer, type GqlResult } from '../support/harness';

/**
 * A JSON POST to /graphql or to the OpenAI door's POST routes is served straight from the HTTP
 * server (src/server/graphql-post.ts, restPost in src/server/http.ts), anything else through
 * express. Both must answer alike: the same request id, the same body limits and errors, and what
 * only express handles (a compressed body, another charset) still served by it.
 */
describe("the doors' JSON POSTs, straight and through express (real HTTP)", () => {
  let t: TestServer;
  let admin: string;
  let client: string;
  const query = JSON.stringify({ query: '{ me { kind } }' });
  const chat = JSON.stringify({
    model: 'deepseek-chat',
    messages: [{ role: 'user', content: 'hi' }],
    max_tokens: 16,
  });

  beforeAll(async () => {
    t = await TestServer.start({ TOLLGATE_MAX_BODY_BYTES: '4096' });
    ({ adminKey: admin } = await t.createProject('acme'));
    client = (await t.createKey(admin, 'CLIENT')).key;
    await t.addCatalog(admin);
  }, 120_000);

  afterAll(() => t.close());

  /** Sends raw bytes (fetch would set its own length and encoding), answering status, headers, body. */
  function send(
    body: Buffer | string,
    headers: Record<string, string>,
    options: { chunked?: boolean; path?: string; key?: string } = {},
  ): Promise<{
    status: number;
    headers: http.IncomingHttpHeaders;
    json: GqlResult & Record<string, unknown>;
  }> {
    const url = new URL(options.path ?? '/graphql', t.app.url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: 'POST',
          headers: {
            authorization: `Bearer ${options.key ?? admin}`,
            ...(options.chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as GqlResult & Record<string, unknown>,
            }),
          );
        },
      );
      req.on('error', reject);
      if (options.chunked) {
        // in pieces, with no Content-Length: the limit is found while reading
        const bytes = Buffer.from(body);
        for (let at = 0; at < bytes.length; at += 1000) req.write(bytes.subarray(at, at + 1000));
        req.end();
      } else req.end(body);
    });
  }

  const json = { 'content-type': 'application/json' };

  it('answers a query with its request id, with or without a UTF-8 charset, after a BOM, with a query string', async () => {
    for (const [body, headers, path] of [
      [query, json, undefined],
      [query, { 'content-type': 'application/json; charset=utf-8' }, undefined],
      [`\ufeff${query}`, json, undefined],
      [query, json, '/graphql?from=test'],
    ] as const) {
      const answer = await send(body, headers, { path });
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({ data: { me: { kind: 'API_KEY' } } });
      expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('still serves what only express handles: a gzip body', async () => {
    const answer = await send(zlib.gzipSync(query), { ...json, 'content-encoding': 'gzip' });
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ data: { me: { kind: 'API_KEY' } } });
  });

  it('refuses a body over the limit with 413, whether its length is declared or found while reading', async () => {
    const big = JSON.stringify({ query: '{ me { kind } }', variables: { pad: 'a'.repeat(5000) } });
    for (const chunked of [false, true]) {
      const answer = await send(big, json, { chunked });
      expect(answer.status).toBe(413);
      expect(answer.json.errors?.[0]).toMatchObject({
        message: 'Request body is larger than 4096 bytes',
        extensions: { code: 'BAD_USER_INPUT' },
      });
      expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    // and the connection's next request is served
    expect((await send(query, json)).status).toBe(200);
  });

  it('answers an empty body as a request with no query (400), not as a server error', async () => {
    const answer = await send('', json);
    expect(answer.status).toBe(400);
    expect(answer.json.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
  });

  it('refuses a charset it cannot read with 415 (through express), in the same JSON shape', async () => {
    // (the second: a charset whose value only starts with utf-8)
    for (const type of ['application/json; charset=latin1', 'application/json; charset=utf-8=latin1']) {
      const answer = await send(query, { 'content-type': type });
      expect(answer.status).toBe(415);
      expect(answer.json.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });

  describe('POST /v1/chat/completions', () => {
    const rest = (body: Buffer | string, headers: Record<string, string>, chunked = false) =>
      send(body, headers, { path: '/v1/chat/completions', key: client, chunked });

    it('answers a call with its request id and cost, after a BOM too, and records it', async () => {
      for (const body of [chat, `\ufeff${chat}`]) {
        const answer = await rest(body, json);
        expect(answer.status).toBe(200);
        expect(answer.json).toMatchObject({ object: 'chat.completion', model: 'deepseek-chat' });
        const requestId = answer.headers['x-request-id'] as string;
        expect(answer.headers['x-tollgate-cost']).toMatch(/^\d+\.\d+$/);
        expect(await t.count('usage_records', 'request_id = $1', [requestId])).toBe(1);
      }
    });

    it('takes its Idempotency-Key as the request id, as the router did', async () => {
      const answer = await rest(chat, { ...json, 'idempotency-key': 'direct-42' });
      expect(answer.status).toBe(200);
      expect(answer.headers['x-request-id']).toBe('direct-42');
    });

    it('still serves a gzip body (through express)', async () => {
      const answer = await rest(zlib.gzipSync(chat), { ...json, 'content-encoding': 'gzip' });
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ object: 'chat.completion' });
    });

    it("answers body problems in OpenAI's shape: 413 declared or found while reading, 400 for bad JSON", async () => {
      const big = JSON.stringify({
        model: 'deepseek-chat',
        messages: [{ role: 'user', content: 'a'.repeat(5000) }],
      });
      for (const chunked of [false, true]) {
        const answer = await rest(big, json, chunked);
        expect(answer.status).toBe(413);
        expect(answer.json).toMatchObject({
          error: { message: 'Request body is larger than 4096 bytes', type: 'invalid_request_error' },
        });
      }
      const bad = await rest('{"model": ', json);
      expect(bad.status).toBe(400);
      expect(bad.json).toMatchObject({ error: { message: 'The request body is not valid JSON' } });
      expect(bad.headers['x-request-id']).toBeDefined();
      expect(await t.count('usage_records', `outcome <> 'SUCCESS'`)).toBe(0);
    });
  });

  describe('POST /v1/messages', () => {
    const message = JSON.stringify({
      model: 'deepseek-chat',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const anthropic = (body: Buffer | string, path = '/v1/messages', chunked = false) =>
      send(body, { ...json, 'anthropic-version': '2023-06-01' }, { path, key: client, chunked });

    it('answers a message and counts tokens, with its request-id', async () => {
      const answer = await anthropic(message);
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ type: 'message', role: 'assistant' });
      expect(await t.count('usage_records', 'request_id = $1', [answer.headers['request-id']])).toBe(1);
      const counted = await anthropic(message, '/v1/messages/count_tokens');
      expect(counted.status).toBe(200);
      expect(counted.json.input_tokens).toEqual(expect.any(Number));
    });

    it("answers body problems in Anthropic's shape", async () => {
      const big = JSON.stringify({
        model: 'deepseek-chat',
        max_tokens: 16,
        messages: [{ role: 'user', content: 'a'.repeat(5000) }],
      });
      for (const chunked of [false, true]) {
        const answer = await anthropic(big, '/v1/messages', chunked);
        expect(answer.status).toBe(413);
        expect(answer.json).toMatchObject({
          type: 'error',
          error: { message: 'Request body is larger than 4096 bytes' },
        });
      }
      const bad = await anthropic('{"model": ');
      expect(bad.status).toBe(400);
      expect(bad.json).toMatchObject({
        type: 'error',
        error: { message: 'The request body is not valid JSON' },
      });
    });
  });
});

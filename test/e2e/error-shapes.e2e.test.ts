import net from 'node:net';
import OpenAI from 'openai';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { FakeUpstream, completionBody, sendJson, sendStream } from '../support/fake-upstream';
import { TestServer, user } from '../support/harness';

const withPostgres = process.env.DATABASE_URL ? describe : describe.skip;

/** Every error of the REST door in OpenAI's shape, as the real SDK reads it. */
describe('OpenAI door errors, through the openai SDK', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let openai: OpenAI;
  let base: string;
  let key: string;

  beforeAll(async () => {
    upstream = await new FakeUpstream().start();
    t = await TestServer.start({ TOLLGATE_MAX_BODY_BYTES: '4096' });
    t.defer(() => upstream.stop());
    const { adminKey } = await t.createProject('errors');
    await t.addCatalog(adminKey, { baseUrl: upstream.baseUrl });
    key = (await t.createKey(adminKey, 'CLIENT')).key;
    base = t.app.url.replace('/graphql', '/v1');
    openai = new OpenAI({ apiKey: key, baseURL: base, maxRetries: 2 });
  }, 120_000);
  afterAll(() => t.close());
  beforeEach(() => upstream.reset());

  it('malformed JSON answers 400 in OpenAI shape', async () => {
    const response = await fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"model": "deepseek-chat", "messages": [',
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { type: string; message: string } };
    expect(body.error).toMatchObject({
      type: 'invalid_request_error',
      message: expect.stringMatching(/JSON/),
    });
  });

  it('an over-size body answers 413 in OpenAI shape, which the SDK shows', async () => {
    const error = await openai.chat.completions
      .create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    expect((error as Error).message).toMatch(/larger than 4096 bytes/);
    expect(upstream.calls).toHaveLength(0);
  });

  it.each([
    [400, OpenAI.BadRequestError],
    [404, OpenAI.NotFoundError],
    [422, OpenAI.UnprocessableEntityError],
  ])('an upstream %i comes back with its status and message, not retried', async (status, kind) => {
    upstream.handler = (_call, res) =>
      sendJson(res, status, {
        error: {
          message: `upstream says no (${status})`,
          type: 'invalid_request_error',
          param: 'tools',
          code: 'bad',
        },
      });
    const { error, headers } = await openai.chat.completions
      .create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => ({ error: null, headers: null }),
        (e: InstanceType<typeof OpenAI.APIError>) => ({ error: e, headers: e.headers }),
      );
    expect(error).toBeInstanceOf(kind);
    expect(error!.message).toContain(`upstream says no (${status})`);
    expect(error!.param).toBe('tools');
    expect(headers?.get('x-should-retry')).toBe('false');
    expect(upstream.calls).toHaveLength(1); // neither Tollgate nor the SDK tried again
  });

  it('GET /v1/models/{id} answers a model, and 404 for an unknown one', async () => {
    expect(await openai.models.retrieve('deepseek-chat')).toMatchObject({
      id: 'deepseek-chat',
      object: 'model',
    });
    await expect(openai.models.retrieve('no-such-model')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('a streamed answer carries x-request-id, the id the usage record has', async () => {
    upstream.handler = (call, res) =>
      void sendStream(res, call.body.model, ['Hel', 'lo'], { usage: { prompt: 8, completion: 2 } });
    const { data: stream, response } = await openai.chat.completions
      .create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Hello');
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await t.count('usage_records', 'request_id = $1', [requestId])).toBe(1);
  });

  it('a plain answer carries x-request-id too', async () => {
    upstream.handler = (call, res) => sendJson(res, 200, completionBody(call.body.model, 5, 1));
    const { response } = await openai.chat.completions
      .create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(await t.count('usage_records', 'request_id = $1', [response.headers.get('x-request-id')])).toBe(1);
  });
});

/** A TCP relay in front of Postgres that can be cut, to take the database away from a running server. */
class Relay {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}
  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server!.close(r));
  }
}

withPostgres('a database outage', () => {
  let database: TestDatabase;
  let relay: Relay;
  let t: TestServer;
  let key: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    const real = new URL(database.url!);
    relay = new Relay({ host: real.hostname, port: Number(real.port || 5432) });
    await relay.start();
    const relayed = new URL(database.url!);
    relayed.port = String(relay.port);
    t = await TestServer.start({ TOLLGATE_DB_POOL_SIZE: '2' }, { databaseUrl: relayed.toString() });
    const { adminKey } = await t.createProject('outage');
    await t.addCatalog(adminKey);
    key = (await t.createKey(adminKey, 'CLIENT')).key;
  }, 120_000);
  afterAll(async () => {
    await t.close();
    await database.drop();
  });

  it('answers 503 with a retryable code on both doors, not INTERNAL_SERVER_ERROR', async () => {
    await relay.cut();
    const openai = new OpenAI({ apiKey: key, baseURL: t.app.url.replace('/graphql', '/v1'), maxRetries: 0 });
    const error = (await openai.chat.completions
      .create({ model: 'deepseek-chat', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(503);
    expect(error.code).toBe('service_unavailable');
    expect(error.headers?.get('x-should-retry')).not.toBe('false');

    const graphql = await t.gql('{ budgetStatus { spent } }', {}, key);
    expect(graphql.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    const call = await t.complete(key, { model: 'deepseek-chat', messages: user('hi') });
    expect(call.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
  });
});

/** GraphQL errors are the same over HTTP and graphql-ws: code, figures, masking, introspection. */
describe('graphql-ws errors match HTTP errors', () => {
  let t: TestServer;
  let limited: string;
  let client: string;

  beforeAll(async () => {
    t = await TestServer.start({ TOLLGATE_INTROSPECTION: 'false' });
    const { adminKey } = await t.createProject('ws-errors');
    await t.addCatalog(adminKey);
    client = (await t.createKey(adminKey, 'CLIENT')).key;
    const created = await t.ok<{ createApiKey: { key: string } }>(
      'mutation { createApiKey(input: { name: "one-a-minute", role: CLIENT, rpmLimit: 1 }) { key } }',
      {},
      adminKey,
    );
    limited = created.createApiKey.key;
  }, 120_000);
  afterAll(() => t.close());

  /** Runs one operation over graphql-ws and returns its errors (or null). */
  async function overWs(key: string, query: string, variables: Record<string, unknown> = {}) {
    const ws = t.wsClient(key);
    return new Promise<{ message: string; extensions?: Record<string, unknown> }[] | null>((resolve) => {
      ws.subscribe(
        { query, variables },
        {
          next: (r) => r.errors && resolve(r.errors as never),
          error: (e) => resolve(Array.isArray(e) ? (e as never) : [{ message: String(e) }]),
          complete: () => resolve(null),
        },
      );
    });
  }

  it('a RATE_LIMITED stream carries its code and retryAfterMs, as the mutation does over HTTP', async () => {
    const input = { model: 'deepseek-chat', messages: user('hi'), maxTokens: 5 };
    expect((await t.complete(limited, input)).errors).toBeUndefined();
    const http = await t.complete(limited, input);
    const ws = await overWs(
      limited,
      'subscription($input: ChatCompletionInput!) { chatCompletionStream(input: $input) { done } }',
      { input },
    );
    expect(http.errors![0]!.extensions).toMatchObject({
      code: 'RATE_LIMITED',
      retryAfterMs: expect.any(Number),
    });
    expect(ws![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: expect.any(Number) });
    expect(ws![0]!.message).toMatch(/^Rate limit reached: this API key's requests per minute/);
  });

  it('validation and parse errors carry the same codes on both transports', async () => {
    const invalid = '{ nope }';
    expect((await t.gql(invalid, {}, client)).errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect((await overWs(client, invalid))![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const broken = '{ me { ';
    expect((await t.gql(broken, {}, client)).errors![0]!.extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
    expect((await overWs(client, broken))![0]!.extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('introspection is refused on both transports when it is off', async () => {
    const introspection = '{ __schema { queryType { name } } }';
    const http = await t.gql(introspection, {}, client);
    const ws = await overWs(client, introspection);
    expect(http.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(ws?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

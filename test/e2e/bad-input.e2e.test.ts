import { COMPLETION, TestServer, user, type GqlResult } from '../support/harness';

/**
 * Bad input gets BAD_USER_INPUT and touches nothing: no usage record, no reservation, no
 * idempotency record, budget counters unchanged. The server keeps serving afterwards.
 */
describe('bad input (real HTTP, real database)', () => {
  let t: TestServer;
  let admin: string;
  let client: string;

  beforeAll(async () => {
    t = await TestServer.start();
    ({ adminKey: admin } = await t.createProject('acme'));
    client = (await t.createKey(admin, 'CLIENT')).key;
    await t.addCatalog(admin);
    await t.createBudget(admin, { period: 'DAILY', limitUsd: '10' });
    await t.createBudget(admin, { period: 'MONTHLY', limitUsd: '100' });
    // One good call first, so the counters hold real figures that a bad call could disturb.
    const first = await t.complete(client, {
      model: 'deepseek-chat',
      messages: user('warm up'),
      maxTokens: 50,
    });
    if (first.errors) throw new Error(JSON.stringify(first.errors));
  }, 120_000);

  afterAll(() => t.close());

  /** Everything a completion attempt could touch. */
  async function footprint() {
    return {
      usageRecords: await t.count('usage_records'),
      reservations: await t.count('reservations'),
      activeReservations: await t.count('reservations', `status = 'ACTIVE'`),
      idempotency: await t.count('idempotency_records'),
      counterRows: await t.count('budget_counters'),
      counters: (await t.app.db.query(
        `SELECT budget_id, period_start, spent::text, reserved::text, prompt_tokens::text,
                completion_tokens::text, requests
           FROM budget_counters ORDER BY budget_id, period_start`,
      )) as Record<string, unknown>[],
    };
  }

  it('the baseline footprint is not empty (so "unchanged" below means something)', async () => {
    const f = await footprint();
    expect(f.usageRecords).toBe(1);
    expect(f.counterRows).toBe(2);
    expect(f.counters.every((c) => c.requests === 1 && c.spent !== '0.000000000000')).toBe(true);
    expect(f.activeReservations).toBe(0);
  });

  const good = { model: 'deepseek-chat', messages: user('hello') };
  const cases: [string, Record<string, unknown>, string | undefined][] = [
    ['no messages', { ...good, messages: [] }, 'messages'],
    ['an unknown role', { ...good, messages: [{ role: 'wizard', content: 'hi' }] }, 'messages'],
    ['only empty content', { ...good, messages: [{ role: 'user', content: '   ' }] }, 'messages'],
    [
      'an invalid message name',
      { ...good, messages: [{ role: 'user', content: 'hi', name: 'a b!' }] },
      'messages',
    ],
    ['negative maxTokens', { ...good, maxTokens: -5 }, 'maxTokens'],
    ['maxTokens 0', { ...good, maxTokens: 0 }, 'maxTokens'],
    ['maxTokens above the server cap', { ...good, maxTokens: 10_000_000 }, 'maxTokens'],
    ['temperature 5', { ...good, temperature: 5 }, 'temperature'],
    ['negative temperature', { ...good, temperature: -0.1 }, 'temperature'],
    ['an unknown model', { ...good, model: 'no-such-model' }, 'model'],
    ['a malformed requestId', { ...good, requestId: 'has spaces & symbols!' }, 'requestId'],
    ['a requestId of 201 characters', { ...good, requestId: 'r'.repeat(201) }, 'requestId'],
    // GraphQL's own variable coercion: Apollo reports these as BAD_USER_INPUT too.
    ['maxTokens of the wrong type', { ...good, maxTokens: 'many' }, undefined],
    ['messages of the wrong type', { ...good, messages: 5 }, undefined],
    ['temperature of the wrong type', { ...good, temperature: 'hot' }, undefined],
    ['a message without content', { ...good, messages: [{ role: 'user' }] }, undefined],
    ['maxTokens beyond 32 bits', { ...good, maxTokens: 1e12 }, undefined],
  ];

  it.each(cases)('%s: BAD_USER_INPUT and nothing touched', async (_name, input, field) => {
    const before = await footprint();
    const result = await t.complete(client, input);
    expect(result.errors).toHaveLength(1);
    expect(result.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
    if (field) expect(result.errors![0]!.extensions?.field).toBe(field);
    expect(result.data?.createChatCompletion ?? null).toBeNull();
    expect(await footprint()).toEqual(before);
  });

  it('a 10 MB message: BAD_USER_INPUT, not echoed back, nothing touched', async () => {
    const before = await footprint();
    const response = await fetch(t.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${client}` },
      body: JSON.stringify({
        query: COMPLETION,
        variables: { input: { model: 'deepseek-chat', messages: user('x'.repeat(10 * 1024 * 1024)) } },
      }),
    });
    const text = await response.text();
    expect(text.length).toBeLessThan(10_000);
    const result = JSON.parse(text) as GqlResult;
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'messages' });
    expect(await footprint()).toEqual(before);
  });

  it('the same bad input with a requestId leaves no idempotency record (a retry with good input works)', async () => {
    const before = await footprint();
    const bad = await t.complete(client, { ...good, maxTokens: 0, requestId: 'retry-after-fix-1' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(await footprint()).toEqual(before);
    const fixed = await t.complete(client, { ...good, maxTokens: 20, requestId: 'retry-after-fix-1' });
    expect(fixed.errors).toBeUndefined();
    expect(fixed.data!.createChatCompletion).toMatchObject({
      requestId: 'retry-after-fix-1',
      replayed: false,
    });
    expect(await t.count('usage_records')).toBe(before.usageRecords + 1);
  });

  describe('ids and other arguments', () => {
    const code = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions?.code;

    it('ids that are not UUIDs are BAD_USER_INPUT', async () => {
      expect(code(await t.gql('mutation { revokeApiKey(id: "not-a-uuid") { id } }', {}, admin))).toBe(
        'BAD_USER_INPUT',
      );
      expect(code(await t.gql('mutation { deleteBudget(id: "not-a-uuid") }', {}, admin))).toBe(
        'BAD_USER_INPUT',
      );
      expect(code(await t.gql('{ usageRecords(apiKeyId: "nope") { nodes { id } } }', {}, client))).toBe(
        'BAD_USER_INPUT',
      );
      // Well-formed but unknown is NOT_FOUND, not BAD_USER_INPUT.
      expect(
        code(
          await t.gql(
            'mutation { revokeApiKey(id: "00000000-0000-4000-8000-000000000000") { id } }',
            {},
            admin,
          ),
        ),
      ).toBe('NOT_FOUND');
    });

    it('a garbage cursor and an out-of-range page size are BAD_USER_INPUT', async () => {
      expect(code(await t.gql('{ usageRecords(after: "garbage") { nodes { id } } }', {}, client))).toBe(
        'BAD_USER_INPUT',
      );
      expect(code(await t.gql('{ usageRecords(first: -1) { nodes { id } } }', {}, client))).toBe(
        'BAD_USER_INPUT',
      );
    });

    it('text Postgres cannot store (a NUL character) is BAD_USER_INPUT, not an internal error', async () => {
      const keysBefore = await t.count('api_keys');
      const result = await t.gql(
        'mutation($name: String!) { createApiKey(input: { name: $name }) { key } }',
        { name: 'evil\u0000name' },
        admin,
      );
      expect(code(result)).toBe('BAD_USER_INPUT');
      expect(await t.count('api_keys')).toBe(keysBefore);
    });
  });

  describe('malformed HTTP bodies', () => {
    const post = (body: string) =>
      fetch(t.app.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${client}` },
        body,
      });

    it.each([
      ['truncated JSON', '{"query": "{ me { kind } }", "variables": {'],
      ['not JSON at all', 'this is not json'],
      ['a bare JSON string', '"{ me { kind } }"'],
    ])('%s: HTTP 400 with a JSON error body', async (_name, body) => {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      const json = (await response.json()) as GqlResult;
      expect(json.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(json)).not.toMatch(/stack|\bat .+:\d+:\d+|node_modules|SyntaxError/);
    });

    it('a body over the size limit: HTTP 413 with a JSON error body', async () => {
      const response = await post(
        JSON.stringify({ query: '{ me { kind } }', variables: { pad: 'a'.repeat(t.config.maxBodyBytes) } }),
      );
      expect(response.status).toBe(413);
      const json = (await response.json()) as GqlResult;
      expect(json.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });
  });

  it('after all of that the server still serves a good completion and is ready', async () => {
    const result = await t.complete(client, { model: 'deepseek-chat', messages: user('still there?') });
    expect(result.errors).toBeUndefined();
    expect(result.data!.createChatCompletion).toMatchObject({ model: 'deepseek-chat', priced: true });
    const ready = await fetch(new URL('/readyz', t.app.url));
    expect(ready.status).toBe(200);
    expect(await t.count('reservations', `status = 'ACTIVE'`)).toBe(0);
  });
});

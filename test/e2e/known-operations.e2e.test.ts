import { TestServer, user } from '../support/harness';

/**
 * A GraphQL POST of a document Apollo validated before runs straight on graphql-js
 * (src/server/known-operations.ts). Each case here sends the same request twice: the first time
 * Apollo answers it (a new document), the second time the known path does when it takes it. The
 * two answers must be the same: status, media type and body, errors included. What the known path
 * does not take (bad variables, another media type, a subscription, extensions, an operationName
 * naming nothing) Apollo answers both times. `/metrics` tells which path answered.
 */
describe('known GraphQL operations run straight on graphql-js, answered as Apollo answers (real HTTP)', () => {
  let t: TestServer;
  let admin: string;
  let client: string;
  let metricsUrl: string;
  let caseNumber = 0;

  beforeAll(async () => {
    t = await TestServer.start();
    ({ adminKey: admin } = await t.createProject('known'));
    client = (await t.createKey(admin, 'CLIENT')).key;
    await t.addCatalog(admin);
    metricsUrl = t.app.url.replace('/graphql', '/metrics');
  }, 120_000);

  afterAll(() => t.close());

  async function knownCount(): Promise<number> {
    const text = await (await fetch(metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith('tollgate_graphql_known_operations_total '));
    return Number(line?.split(' ')[1] ?? 0);
  }

  interface Answer {
    status: number;
    type: string | null;
    body: Record<string, unknown>;
    known: boolean;
  }

  async function post(body: unknown, headers: Record<string, string> = {}, key?: string): Promise<Answer> {
    const before = await knownCount();
    const response = await fetch(t.app.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      body: JSON.parse(text) as Record<string, unknown>,
      known: (await knownCount()) === before + 1,
    };
  }

  /** A document of its own for each case (a comment makes the text new), sent twice. */
  async function twice(
    query: string,
    rest: Record<string, unknown> = {},
    headers: Record<string, string> = {},
    key: string | null = admin,
  ): Promise<[Answer, Answer]> {
    const body = { query: `${query}\n# case ${++caseNumber}`, ...rest };
    const as = key ?? undefined;
    return [await post(body, headers, as), await post(body, headers, as)];
  }

  function sameAnswer(first: Answer, second: Answer): void {
    expect(first.known).toBe(false);
    expect(second.known).toBe(true);
    expect({ ...second, known: false }).toEqual(first);
  }

  it('answers a query the second time on the known path, exactly as Apollo did', async () => {
    const [first, second] = await twice('{ me { kind project { name } } }');
    expect(first.status).toBe(200);
    expect(first.type).toBe('application/json; charset=utf-8');
    expect(first.body).toEqual({ data: { me: { kind: 'API_KEY', project: { name: 'known' } } } });
    sameAnswer(first, second);
  });

  it('runs a completion on the known path and records it', async () => {
    const query = `mutation($input: ChatCompletionInput!) {
      createChatCompletion(input: $input) { id model cost usage { promptTokens totalTokens } routing { tier model } }
    }`;
    const input = { model: 'deepseek-chat', messages: user('hi'), maxTokens: 16 };
    const records = await t.count('usage_records');
    const [first, second] = await twice(query, { variables: { input } }, {}, client);
    expect([first.known, second.known]).toEqual([false, true]);
    expect(await t.count('usage_records')).toBe(records + 2);
    const strip = (a: Answer) => {
      const data = a.body.data as { createChatCompletion: Record<string, unknown> };
      return { ...a, known: false, body: { data: { ...data.createChatCompletion, id: 'x' } } };
    };
    expect(first.status).toBe(200);
    expect(strip(second)).toEqual(strip(first));
    expect((second.body.data as { createChatCompletion: { model: string } }).createChatCompletion.model).toBe(
      'deepseek-chat',
    );
  });

  it("answers a resolver's domain error, authorization errors and a masked database error alike", async () => {
    const completion = `mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { id } }`;
    const cases: [string, Record<string, unknown>, string | null][] = [
      // the pipeline refuses a model the catalog does not have
      [completion, { variables: { input: { model: 'no-such-model', messages: user('hi') } } }, client],
      // a client key on an ADMIN mutation; no key at all
      ['mutation { createApiKey(input: { name: "k", role: CLIENT }) { key } }', {}, client],
      ['{ apiKeys { id } }', {}, null],
      // a malformed id: Postgres refuses it, the client gets BAD_USER_INPUT without the SQL
      ['{ budgetStatus(budgetId: "not-a-uuid") { limit } }', {}, admin],
    ];
    for (const [query, rest, key] of cases) {
      const [first, second] = await twice(query, rest, {}, key);
      expect({ query, errors: first.body.errors }).toEqual({ query, errors: [expect.anything()] });
      sameAnswer(first, second);
    }
  });

  it('answers in the media type the client accepts, as Apollo negotiates it', async () => {
    const graphqlResponse = { accept: 'application/graphql-response+json' };
    const [first, second] = await twice('{ me { kind } }', {}, graphqlResponse);
    expect(first.type).toBe('application/graphql-response+json; charset=utf-8');
    sameAnswer(first, second);
    const [html, htmlAgain] = await twice('{ me { kind } }', {}, { accept: 'text/html' });
    expect(html.status).toBe(406);
    expect([html.known, htmlAgain.known]).toEqual([false, false]);
    expect({ ...htmlAgain }).toEqual(html);
  });

  it('leaves to Apollo variables that do not coerce, with its status for each media type', async () => {
    const query = `query($days: Int!) { alerts(days: $days) { id } } # variables`;
    expect((await post({ query, variables: { days: 1 } }, {}, admin)).status).toBe(200);
    const good = await post({ query, variables: { days: 1 } }, {}, admin);
    expect(good.known).toBe(true);
    for (const [accept, status] of [
      ['application/json', 200],
      ['application/graphql-response+json', 400],
    ] as const) {
      const bad = await post({ query, variables: { days: 'many' } }, { accept }, admin);
      expect(bad).toMatchObject({ status, known: false });
      expect(bad.body).toEqual({
        errors: [expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT' } })],
      });
    }
  });

  it('chooses the operation by operationName, and leaves a name that matches none to Apollo', async () => {
    const query = 'query Kind { me { kind } } query Name { me { project { name } } }';
    const [first, second] = await twice(query, { operationName: 'Name' });
    expect(first.body).toEqual({ data: { me: { project: { name: 'known' } } } });
    sameAnswer(first, second);
    const [none, noneAgain] = await twice(query, { operationName: 'Other' });
    expect(none.body.errors).toEqual([
      expect.objectContaining({ extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } }),
    ]);
    expect([none.known, noneAgain.known]).toEqual([false, false]);
    expect(noneAgain).toEqual(none);
  });

  it('leaves subscriptions, extensions and malformed fields to Apollo', async () => {
    const subscription = 'subscription { alerts { id } }';
    const cases: [string, Record<string, unknown>][] = [
      [subscription, {}],
      ['{ me { kind } }', { extensions: { anything: true } }],
      ['{ me { kind } }', { variables: '{}' }],
      ['{ me { kind } }', { operationName: 7 }],
    ];
    for (const [query, rest] of cases) {
      const [first, second] = await twice(query, rest);
      expect([first.known, second.known]).toEqual([false, false]);
      expect(second).toEqual(first);
    }
    const [refused] = await twice(subscription);
    expect(refused.status).toBe(400);
  });
});

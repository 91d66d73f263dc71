import { MAX_DEPTH } from '../../src/server/query-limits';
import { TestServer, user } from '../support/harness';

describe('hostile requests are refused with typed errors and the server keeps serving', () => {
  let t: TestServer;
  let admin: string;

  beforeAll(async () => {
    t = await TestServer.start();
    ({ adminKey: admin } = await t.createProject('hardening'));
    await t.addCatalog(admin);
  }, 120_000);
  afterAll(() => t.close());

  const post = async (body: string, headers: Record<string, string> = {}) => {
    const response = await fetch(t.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}`, ...headers },
      body,
    });
    return { status: response.status, text: await response.text() };
  };

  it('refuses a query nested past the depth limit, and one nested 100 deep by its cost', async () => {
    const nested = (levels: number) => {
      let selection = 'id';
      for (let i = 0; i < levels; i++) selection = `project { ${selection} }`;
      return `{ me { ${selection} } }`;
    };
    const deep = await t.gql(nested(MAX_DEPTH), {}, admin);
    expect(deep.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(deep.errors?.[0]?.message).toMatch(/depth limit of 12 exceeded/i);
    const deeper = await t.gql(nested(100), {}, admin);
    expect(deeper.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(deeper.errors?.[0]?.message).toMatch(/cost limit of 5000 exceeded/i);
  });

  it('refuses thousands of aliases', async () => {
    const fields = Array.from({ length: 5000 }, (_, i) => `a${i}: me { kind }`).join(' ');
    const result = await t.gql(`{ ${fields} }`, {}, admin);
    expect(result.errors?.[0]?.extensions?.code).toMatch(/GRAPHQL_VALIDATION_FAILED|GRAPHQL_PARSE_FAILED/);
  });

  it('refuses a cyclic fragment without hanging', async () => {
    const result = await t.gql('query { me { ...A } } fragment A on Me { project { id } ...A }', {}, admin);
    expect(result.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('refuses batched requests, malformed JSON and oversized bodies with JSON errors', async () => {
    const batch = await post(JSON.stringify([{ query: '{ me { kind } }' }, { query: '{ me { kind } }' }]));
    expect(batch.status).toBe(400);
    const malformed = await post('{"query": "{ me { kind } }"');
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    const huge = await post(
      JSON.stringify({ query: '{ me { kind } }', variables: { x: 'y'.repeat(17 * 1024 * 1024) } }),
    );
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.text).errors[0].extensions.code).toBe('BAD_USER_INPUT');
    for (const r of [batch, malformed, huge]) expect(r.text).not.toMatch(/\bat .+\.(ts|js):\d+/);
  });

  it('still serves completions after all of that, and wrote nothing meanwhile', async () => {
    expect(await t.count('usage_records')).toBe(0);
    const result = await t.complete(admin, { messages: user('still there?') });
    expect(result.errors).toBeUndefined();
    expect(await t.count('usage_records')).toBe(1);
  });
});

import crypto from 'node:crypto';
import { eventually, OPERATOR_KEY, subscribed, TestServer, user, type GqlResult } from '../support/harness';

/** A well-formed gateway key that no project holds. */
const unknownKey = () => `tg_${crypto.randomBytes(24).toString('base64url')}`;

const ME = '{ me { kind project { id } apiKey { id } } }';

describe('authentication, roles and tenant isolation (real HTTP, real graphql-ws, real database)', () => {
  let t: TestServer;
  /** Every response that carried errors, checked at the end for leaked internals. */
  const errorResponses: unknown[] = [];

  let a: { projectId: string; admin: string; client: { id: string; key: string }; budgetId: string };
  let b: { projectId: string; admin: string; client: { id: string; key: string }; budgetId: string };

  async function gql<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    key?: string,
  ): Promise<GqlResult<T>> {
    const result = await t.gql<T>(query, variables, key);
    if (result.errors) errorResponses.push(result);
    return result;
  }

  /** Raw POST with any Authorization header (or none), for headers the harness does not build. */
  async function rawPost(authorization: string | undefined, query = ME): Promise<GqlResult> {
    const response = await fetch(t.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query }),
    });
    const result = { status: response.status, ...((await response.json()) as Omit<GqlResult, 'status'>) };
    if (result.errors) errorResponses.push(result);
    return result;
  }

  const codeOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions?.code;

  async function project(name: string) {
    const { projectId, adminKey } = await t.createProject(name);
    const client = await t.createKey(adminKey, 'CLIENT', `${name}-client`);
    await t.addCatalog(adminKey);
    const budgetId = await t.createBudget(adminKey, { period: 'MONTHLY', limitUsd: '100' });
    return { projectId, admin: adminKey, client, budgetId };
  }

  beforeAll(async () => {
    t = await TestServer.start();
    a = await project('tenant-a');
    b = await project('tenant-b');
  }, 120_000);

  afterAll(() => t.close());

  describe('UNAUTHENTICATED', () => {
    it('a request with no key is refused, and a valid key is accepted', async () => {
      const none = await gql(ME);
      expect(codeOf(none)).toBe('UNAUTHENTICATED');
      expect(none.data).toBeNull();
      const completion = await gql(
        'mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { id } }',
        { input: { messages: user('hi') } },
      );
      expect(codeOf(completion)).toBe('UNAUTHENTICATED');

      const good = await gql<{ me: { kind: string; project: { id: string } } }>(ME, {}, a.client.key);
      expect(good.errors).toBeUndefined();
      expect(good.data!.me).toMatchObject({ kind: 'API_KEY', project: { id: a.projectId } });
    });

    it('a malformed key or Authorization header is refused', async () => {
      expect(codeOf(await gql(ME, {}, 'tg_short'))).toBe('UNAUTHENTICATED');
      expect(codeOf(await gql(ME, {}, 'not-a-gateway-key-at-all-0123456789'))).toBe('UNAUTHENTICATED');
      // The key itself, but not as a bearer token.
      expect(codeOf(await rawPost(`Basic ${a.client.key}`))).toBe('UNAUTHENTICATED');
      expect(codeOf(await rawPost('Bearer'))).toBe('UNAUTHENTICATED');
    });

    it('a well-formed key that no project holds is refused', async () => {
      const result = await gql(ME, {}, unknownKey());
      expect(codeOf(result)).toBe('UNAUTHENTICATED');
      expect(result.data).toBeNull();
    });

    it('a revoked key stops working at once (even though it was just used and cached)', async () => {
      const victim = await t.createKey(a.admin, 'CLIENT', 'to-revoke');
      // Use it first, so the key sits in the auth cache when it is revoked.
      const before = await t.complete(victim.key, { model: 'deepseek-chat', messages: user('hi') });
      expect(before.errors).toBeUndefined();

      const revoked = await t.ok<{ revokeApiKey: { id: string; revokedAt: string | null } }>(
        'mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }',
        { id: victim.id },
        a.admin,
      );
      expect(revoked.revokeApiKey.id).toBe(victim.id);
      expect(revoked.revokeApiKey.revokedAt).not.toBeNull();

      const usageBefore = await t.count('usage_records', 'api_key_id = $1', [victim.id]);
      const after = await gql(
        'mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { id } }',
        { input: { model: 'deepseek-chat', messages: user('hi') } },
        victim.key,
      );
      expect(codeOf(after)).toBe('UNAUTHENTICATED');
      expect(codeOf(await gql(ME, {}, victim.key))).toBe('UNAUTHENTICATED');
      expect(await t.count('usage_records', 'api_key_id = $1', [victim.id])).toBe(usageBefore);
      // The other keys of the project are untouched.
      expect((await gql(ME, {}, a.client.key)).errors).toBeUndefined();
    });
  });

  describe('FORBIDDEN', () => {
    it('a CLIENT key cannot run admin mutations, and nothing is created', async () => {
      const keysBefore = await t.count('api_keys', 'project_id = $1', [a.projectId]);
      const budgetsBefore = await t.count('budgets', 'project_id = $1', [a.projectId]);
      const providersBefore = await t.count('providers', 'project_id = $1', [a.projectId]);

      const createKey = await gql(
        'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { name: 'sneaky', role: 'ADMIN' } },
        a.client.key,
      );
      expect(codeOf(createKey)).toBe('FORBIDDEN');
      const createBudget = await gql(
        'mutation($input: CreateBudgetInput!) { createBudget(input: $input) { id } }',
        { input: { period: 'DAILY', limitUsd: '1000000' } },
        a.client.key,
      );
      expect(codeOf(createBudget)).toBe('FORBIDDEN');
      const createProvider = await gql(
        'mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }',
        { input: { name: 'evil', kind: 'OPENAI_COMPATIBLE', baseUrl: 'http://127.0.0.1:1' } },
        a.client.key,
      );
      expect(codeOf(createProvider)).toBe('FORBIDDEN');

      expect(await t.count('api_keys', 'project_id = $1', [a.projectId])).toBe(keysBefore);
      expect(await t.count('budgets', 'project_id = $1', [a.projectId])).toBe(budgetsBefore);
      expect(await t.count('providers', 'project_id = $1', [a.projectId])).toBe(providersBefore);

      // The same mutation with the project's ADMIN key is allowed (so the refusal was the role).
      const asAdmin = await gql(
        'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }',
        { input: { name: 'allowed', role: 'CLIENT' } },
        a.admin,
      );
      expect(asAdmin.errors).toBeUndefined();
    });

    it('the operator key cannot make completions and no usage is recorded', async () => {
      const usageBefore = await t.count('usage_records');
      const reservationsBefore = await t.count('reservations');
      const result = await gql(
        'mutation($input: ChatCompletionInput!) { createChatCompletion(input: $input) { id } }',
        { input: { model: 'deepseek-chat', messages: user('hi') } },
        OPERATOR_KEY,
      );
      expect(codeOf(result)).toBe('FORBIDDEN');
      expect(await t.count('usage_records')).toBe(usageBefore);
      expect(await t.count('reservations')).toBe(reservationsBefore);
    });

    it('a project key cannot create projects', async () => {
      const before = await t.count('projects');
      const result = await gql('mutation { createProject(name: "x") { project { id } } }', {}, a.admin);
      expect(codeOf(result)).toBe('FORBIDDEN');
      expect(await t.count('projects')).toBe(before);
    });
  });

  describe('tenant isolation', () => {
    beforeAll(async () => {
      for (const p of [a, b]) {
        const r = await t.complete(p.client.key, { model: 'deepseek-chat', messages: user('hello') });
        if (r.errors) throw new Error(JSON.stringify(r.errors));
      }
    });

    it("project A cannot read B's budget", async () => {
      const own = await gql<{ budgetStatus: { budget: { id: string } }[] }>(
        'query($id: ID) { budgetStatus(budgetId: $id) { budget { id } } }',
        { id: a.budgetId },
        a.client.key,
      );
      expect(own.errors).toBeUndefined();
      expect(own.data!.budgetStatus.map((s) => s.budget.id)).toEqual([a.budgetId]);

      const other = await gql(
        'query($id: ID) { budgetStatus(budgetId: $id) { budget { id } spent } }',
        { id: b.budgetId },
        a.client.key,
      );
      expect(codeOf(other)).toBe('NOT_FOUND');
      expect(JSON.stringify(other)).not.toContain(b.budgetId);

      const list = await t.ok<{ budgetList: { id: string }[] }>('{ budgetList { id } }', {}, a.client.key);
      expect(list.budgetList.map((x) => x.id)).toEqual([a.budgetId]);
    });

    it("project A cannot change B's budget or revoke B's key", async () => {
      const update = await gql(
        'mutation($id: ID!) { updateBudget(id: $id, input: { limitUsd: "0.01" }) { id } }',
        { id: b.budgetId },
        a.admin,
      );
      expect(codeOf(update)).toBe('NOT_FOUND');
      const del = await gql('mutation($id: ID!) { deleteBudget(id: $id) }', { id: b.budgetId }, a.admin);
      expect(codeOf(del)).toBe('NOT_FOUND');
      const [budget] = (await t.app.db.query(`SELECT limit_usd::text AS l FROM budgets WHERE id = $1`, [
        b.budgetId,
      ])) as { l: string }[];
      expect(Number(budget!.l)).toBe(100);

      const revoke = await gql(
        'mutation($id: ID!) { revokeApiKey(id: $id) { id } }',
        { id: b.client.id },
        a.admin,
      );
      expect(codeOf(revoke)).toBe('NOT_FOUND');
      expect(await t.count('api_keys', 'id = $1 AND revoked_at IS NULL', [b.client.id])).toBe(1);
      const stillWorks = await gql<{ me: { apiKey: { id: string } } }>(ME, {}, b.client.key);
      expect(stillWorks.errors).toBeUndefined();
      expect(stillWorks.data!.me.apiKey.id).toBe(b.client.id);
    });

    it("usageRecords and apiKeys show only the caller's project", async () => {
      const ownRows = await t.count('usage_records', 'project_id = $1', [a.projectId]);
      expect(ownRows).toBeGreaterThan(0);
      expect(await t.count('usage_records', 'project_id = $1', [b.projectId])).toBeGreaterThan(0);

      const page = await t.ok<{ usageRecords: { nodes: { id: string; apiKey: { id: string } | null }[] } }>(
        '{ usageRecords(first: 100) { nodes { id apiKey { id } } } }',
        {},
        a.client.key,
      );
      expect(page.usageRecords.nodes).toHaveLength(ownRows);
      const ids = page.usageRecords.nodes.map((n) => n.id);
      const owners = (await t.app.db.query(
        `SELECT DISTINCT project_id FROM usage_records WHERE id = ANY($1)`,
        [ids],
      )) as { project_id: string }[];
      expect(owners).toEqual([{ project_id: a.projectId }]);
      expect(page.usageRecords.nodes.map((n) => n.apiKey?.id)).not.toContain(b.client.id);

      // Asking for B's key by id yields nothing of B's.
      const filtered = await t.ok<{ usageRecords: { nodes: unknown[] } }>(
        'query($k: ID) { usageRecords(apiKeyId: $k) { nodes { id } } }',
        { k: b.client.id },
        a.client.key,
      );
      expect(filtered.usageRecords.nodes).toEqual([]);

      const keys = await t.ok<{ apiKeys: { id: string }[] }>('{ apiKeys { id } }', {}, a.admin);
      expect(keys.apiKeys.map((k) => k.id)).toContain(a.client.id);
      expect(keys.apiKeys.map((k) => k.id)).not.toContain(b.client.id);
    });

    it("a budgetMetrics subscriber of A receives none of B's events, while B's subscriber does", async () => {
      type Msg = { budgetMetrics: { projectId: string; budgets: { spent: string }[] } };
      const subscribe = async (key: string) => {
        const received: Msg['budgetMetrics'][] = [];
        const errors: unknown[] = [];
        const ws = t.wsClient(key);
        ws.subscribe<Msg>(
          { query: 'subscription { budgetMetrics { projectId budgets { spent } } }' },
          {
            next: (msg) => received.push(msg.data!.budgetMetrics),
            error: (e) => errors.push(e),
            complete: () => undefined,
          },
        );
        await subscribed(ws);
        return { received, errors };
      };
      const [subA, subB] = await Promise.all([subscribe(a.client.key), subscribe(b.client.key)]);
      // A subscription's events reach it in the order they were published (one bus, one socket, one
      // event at a time): had an event of the other project reached it, it would come before a later
      // event of its own. So each side's own later call is the end of the wait for a leak.

      const callB = await t.complete(b.client.key, { model: 'deepseek-chat', messages: user('from B') });
      expect(callB.errors).toBeUndefined();
      await eventually(
        () => subB.received.length,
        (n) => n > 0,
      );
      expect(subB.received.every((m) => m.projectId === b.projectId)).toBe(true);

      // A's subscription is live: its own call reaches it, and nothing of B's came before it.
      const bCount = subB.received.length;
      const callA = await t.complete(a.client.key, { model: 'deepseek-chat', messages: user('from A') });
      expect(callA.errors).toBeUndefined();
      await eventually(
        () => subA.received.length,
        (n) => n > 0,
      );
      expect(subA.received.every((m) => m.projectId === a.projectId)).toBe(true);

      // B's subscriber did not see A's call: B's next call reaches it, with nothing of A's before it.
      const again = await t.complete(b.client.key, { model: 'deepseek-chat', messages: user('B again') });
      expect(again.errors).toBeUndefined();
      await eventually(
        () => subB.received.length,
        (n) => n > bCount,
      );
      expect(subB.received.every((m) => m.projectId === b.projectId)).toBe(true);
      expect(subA.errors).toEqual([]);
      expect(subB.errors).toEqual([]);
    });
  });

  describe('graphql-ws authentication', () => {
    // graphql-ws's client reports a refused eager connection on console.error; keep the output clean.
    let quiet: jest.SpyInstance;
    beforeAll(() => (quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined)));
    afterAll(() => quiet.mockRestore());

    const closedWith = (key: string | undefined) =>
      new Promise<number>((resolve) => {
        t.wsClient(key, resolve);
      });

    it('a connection with no key is closed with 4401', async () => {
      expect(await closedWith(undefined)).toBe(4401);
    });

    it('a connection with an unknown, malformed or revoked key is closed with 4401', async () => {
      expect(await closedWith(unknownKey())).toBe(4401);
      expect(await closedWith('garbage')).toBe(4401);
      const victim = await t.createKey(b.admin, 'CLIENT', 'ws-revoked');
      await t.ok('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: victim.id }, b.admin);
      expect(await closedWith(victim.key)).toBe(4401);
    });

    it('a connection with a valid key is accepted (so the closes above are about the key)', async () => {
      let closedCode: number | undefined;
      const ws = t.wsClient(a.client.key, (code) => (closedCode = code));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('not connected within 5 s')), 5_000);
        ws.on('connected', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      // and it stays open: an operation on it is answered, as this key
      const answer = await new Promise<unknown>((resolve, reject) => {
        let data: unknown;
        ws.subscribe(
          { query: ME },
          { next: (r) => (data = r.data), error: (e) => reject(e as Error), complete: () => resolve(data) },
        );
      });
      expect(answer).toEqual({
        me: { kind: 'API_KEY', project: { id: a.projectId }, apiKey: { id: a.client.id } },
      });
      expect(closedCode).toBeUndefined();
    });
  });

  // Declared last, so it runs after every other test of the file and sees all their errors.
  it('no error response carries a stack trace or internal detail', () => {
    expect(errorResponses.length).toBeGreaterThanOrEqual(15);
    for (const response of errorResponses) {
      const text = JSON.stringify(response);
      expect(text).not.toMatch(/stacktrace/i);
      expect(text).not.toMatch(/\bat .+\(.+:\d+:\d+\)/);
      expect(text).not.toMatch(/\.ts:\d+|node_modules|src\//);
      expect(text).not.toMatch(/SELECT|INSERT|UPDATE .* SET|QueryFailedError/);
    }
  });
});

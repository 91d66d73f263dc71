import crypto from 'node:crypto';
import dns from 'node:dns/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { FakeUpstream } from '../support/fake-upstream';
import { eventually, TestServer, user, type GqlResult } from '../support/harness';

const PROVIDER = 'mutation($input: CreateProviderInput!) { createProvider(input: $input) { id keySources } }';
const MODEL = 'mutation($input: ModelInput!) { upsertModel(input: $input) { id } }';
const WEBHOOK =
  'mutation($input: AddWebhookInput!) { addWebhookEndpoint(input: $input) { endpoint { id } } }';
const codeOf = (r: GqlResult<unknown>) => r.errors?.[0]?.extensions?.code;

/** Values no upstream may ever see: Tollgate's own settings and a variable the operator did not list. */
const SECRETS = {
  TOLLGATE_OPERATOR_KEY: `op-${crypto.randomBytes(12).toString('hex')}`,
  TG_TEST_UNLISTED_SECRET: `unlisted-${crypto.randomBytes(12).toString('hex')}`,
  DATABASE_URL_SHADOW: `postgres://shadow-${crypto.randomBytes(6).toString('hex')}`,
};
const ALLOWED_VALUE = `sk-allowed-${crypto.randomBytes(12).toString('hex')}`;

/** A local HTTP server that records every request's headers and answers 200. */
class Receiver {
  readonly seen: http.IncomingHttpHeaders[] = [];
  private readonly server = http.createServer((req, res) => {
    this.seen.push(req.headers);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  });
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

describe('env: upstream keys are the operator decision', () => {
  let t: TestServer;
  let upstream: FakeUpstream;
  let admin: string;
  let client: string;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    for (const [name, value] of Object.entries({ ...SECRETS, TG_TEST_ALLOWED_KEY: ALLOWED_VALUE })) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    upstream = await new FakeUpstream().start();
    t = await TestServer.start({ TOLLGATE_UPSTREAM_ENV_KEYS: 'TG_TEST_ALLOWED_*' });
    ({ adminKey: admin } = await t.createProject('env-keys'));
    client = (await t.createKey(admin, 'CLIENT')).key;
  }, 120_000);
  afterAll(async () => {
    await t.close();
    await upstream.stop();
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('refuses env: names the operator did not list, and Tollgate settings whatever the list says', async () => {
    for (const name of [
      'TOLLGATE_OPERATOR_KEY',
      'TOLLGATE_SECRET_KEY',
      'DATABASE_URL',
      'TG_TEST_UNLISTED_SECRET',
    ]) {
      const result = await t.gql(
        PROVIDER,
        {
          input: {
            name: `p-${name}`,
            kind: 'OPENAI_COMPATIBLE',
            baseUrl: upstream.baseUrl,
            upstreamKeys: [`env:${name}`],
          },
        },
        admin,
      );
      expect(codeOf(result)).toBe('BAD_USER_INPUT');
      expect(result.errors![0]!.message).toContain(`env:${name}`);
      expect(result.errors![0]!.extensions!.field).toBe('upstreamKeys');
    }
    expect(await t.count('providers')).toBe(0);
  });

  it('sends an allowed variable, and never a disallowed one stored before the rule (refused at call time)', async () => {
    await t.ok(
      PROVIDER,
      {
        input: {
          name: 'allowed',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: upstream.baseUrl,
          upstreamKeys: ['env:TG_TEST_ALLOWED_KEY'],
        },
      },
      admin,
    );
    await t.ok(
      MODEL,
      { input: { name: 'ok-model', provider: 'allowed', promptPrice: '1', completionPrice: '1' } },
      admin,
    );
    const served = await t.complete(client, { model: 'ok-model', messages: user('hi'), maxTokens: 10 });
    expect(served.errors).toBeUndefined();
    expect(upstream.calls.at(-1)!.authorization).toBe(`Bearer ${ALLOWED_VALUE}`);

    // A row written before the allowlist existed (or by an older version): it names the operator
    // key and an unlisted secret. Calls through it must fail without sending either.
    const [anyKey] = (await t.app.db.query(`SELECT project_id AS id FROM api_keys LIMIT 1`)) as {
      id: string;
    }[];
    const projectId = anyKey!.id;
    await t.app.db.query(
      `INSERT INTO providers (project_id, name, kind, base_url, upstream_keys) VALUES ($1, 'legacy', 'OPENAI_COMPATIBLE', $2, $3)`,
      [
        projectId,
        upstream.baseUrl,
        JSON.stringify([{ env: 'TOLLGATE_OPERATOR_KEY' }, { env: 'TG_TEST_UNLISTED_SECRET' }]),
      ],
    );
    await t.ok(
      MODEL,
      { input: { name: 'legacy-model', provider: 'legacy', promptPrice: '1', completionPrice: '1' } },
      admin,
    );
    const before = upstream.calls.length;
    const refused = await t.complete(client, { model: 'legacy-model', messages: user('hi'), maxTokens: 10 });
    expect(codeOf(refused)).toBe('UPSTREAM_UNAVAILABLE');
    expect(upstream.calls.length).toBe(before);
    const everything = JSON.stringify(upstream.calls);
    for (const value of Object.values(SECRETS)) expect(everything).not.toContain(value);
  });
});

describe('where Tollgate may connect is the operator decision', () => {
  let t: TestServer;
  let admin: string;
  let client: string;
  let receiver: Receiver;
  let hostname: string;

  beforeAll(async () => {
    // This machine's own name resolves to a loopback or private address: a name, not a literal,
    // so only the connect-time check (after DNS) can catch it.
    hostname = os.hostname();
    const { address } = await dns.lookup(hostname);
    expect(address).toMatch(/^(127\.|10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|::1$|f[cd])/);
    receiver = await new Receiver().start();
    // No opt-in: the defaults, as a production operator has them.
    t = await TestServer.start({
      TOLLGATE_WEBHOOK_ALLOWED_NETWORKS: '',
      TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: '',
    });
    ({ adminKey: admin } = await t.createProject('egress'));
    client = (await t.createKey(admin, 'CLIENT')).key;
  }, 120_000);
  afterAll(async () => {
    await t.close();
    await receiver.stop();
  });

  it('refuses webhook URLs on loopback, private, link-local and unspecified addresses', async () => {
    for (const url of [
      `http://127.0.0.1:${receiver.port}/hook`,
      `http://localhost:${receiver.port}/hook`,
      'http://169.254.169.254/latest/meta-data/',
      'http://10.1.2.3/hook',
      'http://0.0.0.0:80/',
      'http://[::1]:8080/',
      'http://[::ffff:127.0.0.1]/',
    ]) {
      const result = await t.gql(WEBHOOK, { input: { url, format: 'JSON' } }, admin);
      expect({ url, code: codeOf(result) }).toEqual({ url, code: 'BAD_USER_INPUT' });
      expect(result.errors![0]!.message).toContain('TOLLGATE_WEBHOOK_ALLOWED_NETWORKS');
    }
    expect(await t.count('webhook_endpoints')).toBe(0);
  });

  it('checks the resolved address when it connects: a name resolving to loopback gets nothing', async () => {
    const added = await t.ok<{ addWebhookEndpoint: { endpoint: { id: string } } }>(
      WEBHOOK,
      { input: { url: `http://${hostname}:${receiver.port}/hook`, format: 'JSON' } },
      admin,
    );
    const id = added.addWebhookEndpoint.endpoint.id;
    await t.ok('mutation($id: ID!) { testWebhook(id: $id) { id } }', { id }, admin);
    const deliveries = await eventually(
      () =>
        t.ok<{ webhookDeliveries: { attempts: number; lastError: string | null }[] }>(
          '{ webhookDeliveries { attempts lastError } }',
          {},
          admin,
        ),
      (d) => d.webhookDeliveries[0]!.attempts > 0,
    );
    expect(deliveries.webhookDeliveries[0]!.lastError).toMatch(/not one the operator allows/);
    expect(receiver.seen).toHaveLength(0);
  });

  it('refuses provider base URLs on private addresses, literal or resolved', async () => {
    const literal = await t.gql(
      PROVIDER,
      {
        input: {
          name: 'meta',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: 'http://169.254.169.254/v1',
          upstreamKeys: ['sk-x'],
        },
      },
      admin,
    );
    expect(codeOf(literal)).toBe('BAD_USER_INPUT');
    expect(literal.errors![0]!.message).toContain('TOLLGATE_UPSTREAM_ALLOWED_NETWORKS');

    await t.ok(
      PROVIDER,
      {
        input: {
          name: 'named',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: `http://${hostname}:${receiver.port}/v1`,
          upstreamKeys: ['sk-x'],
        },
      },
      admin,
    );
    await t.ok(
      MODEL,
      { input: { name: 'named-model', provider: 'named', promptPrice: '1', completionPrice: '1' } },
      admin,
    );
    const call = await t.complete(client, { model: 'named-model', messages: user('hi'), maxTokens: 10 });
    expect(codeOf(call)).toBe('UPSTREAM_ERROR');
    expect(call.errors![0]!.message).toMatch(/address the operator does not allow/);
    expect(receiver.seen).toHaveLength(0);
  });
});

describe('webhook lastError does not tell an open port from a closed one', () => {
  let t: TestServer;
  let admin: string;

  beforeAll(async () => {
    t = await TestServer.start({ TOLLGATE_WEBHOOK_BACKOFF_MS: '60000' });
    ({ adminKey: admin } = await t.createProject('ports'));
  }, 120_000);
  afterAll(() => t.close());

  async function lastErrorFor(url: string): Promise<string | null> {
    const added = await t.ok<{ addWebhookEndpoint: { endpoint: { id: string } } }>(
      WEBHOOK,
      { input: { url, format: 'JSON' } },
      admin,
    );
    const endpointId = added.addWebhookEndpoint.endpoint.id;
    await t.ok('mutation($id: ID!) { testWebhook(id: $id) { id } }', { id: endpointId }, admin);
    const result = await eventually(
      () =>
        t.ok<{ webhookDeliveries: { attempts: number; lastError: string | null }[] }>(
          'query($id: ID) { webhookDeliveries(endpointId: $id) { attempts lastError } }',
          { id: endpointId },
          admin,
        ),
      (d) => d.webhookDeliveries[0]!.attempts > 0,
      15_000,
    );
    return result.webhookDeliveries[0]!.lastError;
  }

  it('a closed port and a port that resets the connection read the same', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const resetting = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', r));
    try {
      const refused = await lastErrorFor(`http://127.0.0.1:${closedPort}/hook`);
      const reset = await lastErrorFor(`http://127.0.0.1:${(resetting.address() as AddressInfo).port}/hook`);
      expect(refused).toBe(reset);
      expect(refused).not.toMatch(/ECONNREFUSED|ECONNRESET|socket|refused/i);
    } finally {
      resetting.closeAllConnections();
      await new Promise((r) => resetting.close(r));
    }
  });
});

describe('revocation reaches open WebSockets', () => {
  const withPostgres = process.env.DATABASE_URL ? it : it.skip;
  let one: TestServer;
  let two: TestServer | undefined;
  let admin: string;

  beforeAll(async () => {
    const env: Record<string, string> = { TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex') };
    one = await TestServer.start(env);
    if (process.env.DATABASE_URL) two = await TestServer.start(env, { databaseUrl: one.config.databaseUrl });
    ({ adminKey: admin } = await one.createProject('revoke'));
    await one.addCatalog(admin);
  }, 120_000);
  afterAll(async () => {
    await two?.close();
    await one.close();
  });

  /** A connected graphql-ws client with a live budgetMetrics subscription; resolves the close code. */
  async function connected(server: TestServer, key: string) {
    let closedWith: (code: number) => void = () => undefined;
    const closed = new Promise<number>((resolve) => (closedWith = resolve));
    const ws = server.wsClient(key, (code) => closedWith(code));
    await new Promise<void>((resolve, reject) => {
      const off = ws.on('connected', () => {
        off();
        resolve();
      });
      ws.on('error', reject);
    });
    ws.subscribe(
      { query: 'subscription { budgetMetrics { at } }' },
      { next: () => undefined, error: () => undefined, complete: () => undefined },
    );
    return { ws, closed };
  }

  async function revoke(server: TestServer, keyId: string): Promise<number> {
    await server.ok('mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: keyId }, admin);
    return performance.now();
  }

  it('closes the socket with 4403 within a second, and an ADMIN key cannot mint a key over it meanwhile', async () => {
    const victim = await one.createKey(admin, 'ADMIN', 'to-revoke');
    const { ws, closed } = await connected(one, victim.key);
    const mint = () =>
      new Promise<{ data?: unknown; errors?: unknown }>((resolve) => {
        ws.subscribe(
          { query: 'mutation { createApiKey(input: { name: "minted", role: ADMIN }) { key } }' },
          {
            next: (r) => resolve(r as { data?: unknown }),
            error: (e) => resolve({ errors: e }),
            complete: () => undefined,
          },
        );
      });
    // Before the revoke, the socket can run a mutation.
    expect(((await mint()) as { data?: unknown }).data).toBeTruthy();
    const revokedAt = await revoke(one, victim.id);
    const attempt = await Promise.race([
      mint(),
      closed.then((): { data?: unknown; errors?: unknown } => ({ errors: 'closed' })),
    ]);
    expect(attempt.data ?? null).toBeNull();
    expect(await closed).toBe(4403);
    expect(performance.now() - revokedAt).toBeLessThan(1000);
    const minted = await one.count(`api_keys`, `name = 'minted'`);
    expect(minted).toBe(1); // only the one made before the revoke
  });

  it('a CLIENT key cannot start a charged stream on a socket opened before its revoke', async () => {
    const victim = await one.createKey(admin, 'CLIENT', 'streamer');
    const { ws, closed } = await connected(one, victim.key);
    await revoke(one, victim.id);
    const outcome = await new Promise<string>((resolve) => {
      ws.subscribe(
        {
          query:
            'subscription($input: ChatCompletionInput!) { chatCompletionStream(input: $input) { done } }',
          variables: { input: { messages: user('hi') } },
        },
        {
          next: () => resolve('served'),
          error: () => resolve('refused'),
          complete: () => resolve('completed'),
        },
      );
      void closed.then(() => resolve('closed'));
    });
    expect(outcome).not.toBe('served');
    expect(await closed).toBe(4403);
    expect(await one.count('usage_records', 'api_key_id = $1', [victim.id])).toBe(0);
  });

  withPostgres('closes the socket on the other instance within a second too', async () => {
    const victim = await one.createKey(admin, 'CLIENT', 'remote');
    const { closed } = await connected(two!, victim.key);
    const revokedAt = await revoke(one, victim.id);
    expect(await closed).toBe(4403);
    expect(performance.now() - revokedAt).toBeLessThan(1000);
  });

  withPostgres('closes it within a second of a revoke made straight in the database (no event)', async () => {
    const victim = await one.createKey(admin, 'CLIENT', 'direct');
    const { closed } = await connected(two!, victim.key);
    const started = performance.now();
    await one.app.db.query(`UPDATE api_keys SET revoked_at = now() WHERE id = $1`, [victim.id]);
    expect(await closed).toBe(4403);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe('the failed-auth throttle does not slow valid keys', () => {
  let t: TestServer;
  let client: string;

  beforeAll(async () => {
    t = await TestServer.start({ TOLLGATE_TRUSTED_PROXIES: '127.0.0.1' });
    const { adminKey } = await t.createProject('throttle');
    client = (await t.createKey(adminKey, 'CLIENT')).key;
  }, 120_000);
  afterAll(() => t.close());

  const models = (key: string, forwardedFor?: string) =>
    fetch(t.app.url.replace('/graphql', '/v1/models'), {
      headers: {
        authorization: `Bearer ${key}`,
        ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
      },
    });
  const wrong = () => `tg_${crypto.randomBytes(24).toString('base64url')}`;
  async function timed(call: () => Promise<Response>): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    const response = await call();
    await response.text();
    return { status: response.status, ms: performance.now() - started };
  }

  it('20 wrong keys from one address, then a valid key from it: served without delay', async () => {
    const failing = Array.from({ length: 20 }, () => models(wrong(), '198.51.100.7').then((r) => r.status));
    // The throttle is engaged once the later failures are being held back.
    await eventually(
      () => timed(() => models(wrong(), '198.51.100.7')),
      (r) => r.ms >= 100,
    );
    const valid = await timed(() => models(client, '198.51.100.7'));
    expect(valid.status).toBe(200);
    expect(valid.ms).toBeLessThan(100);
    // Another client behind the same proxy is not held back either.
    const neighbour = await timed(() => models(wrong(), '198.51.100.8'));
    expect(neighbour.status).toBe(401);
    expect(neighbour.ms).toBeLessThan(100);
    expect(new Set(await Promise.all(failing))).toEqual(new Set([401]));
  });

  it('X-Forwarded-For counts only from a trusted proxy', async () => {
    const untrusted = await TestServer.start();
    try {
      const url = untrusted.app.url.replace('/graphql', '/v1/models');
      const bad = (forwardedFor: string) =>
        fetch(url, { headers: { authorization: `Bearer ${wrong()}`, 'x-forwarded-for': forwardedFor } });
      // Eleven failures, each claiming another address: all one source (the socket's) here.
      for (let i = 0; i < 11; i++) expect((await bad(`203.0.113.${i}`)).status).toBe(401);
      const started = performance.now();
      expect((await bad('203.0.113.99')).status).toBe(401);
      expect(performance.now() - started).toBeGreaterThanOrEqual(100);
    } finally {
      await untrusted.close();
    }
  });
});

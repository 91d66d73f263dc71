import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { WebhookEndpoint } from '../../src/modules/alerts/webhook-endpoint.entity';
import type { ConfigFileReport } from '../../src/modules/config-file/config-file.applier';
import { ConfigFileError } from '../../src/modules/config-file/config-file.loader';
import { SecretBox } from '../../src/shared/secret-box';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { TestServer, user } from '../support/harness';

/**
 * Configuration as code (TOLLGATE_CONFIG): a YAML file applied at every start, through the same
 * services as the API, idempotently; the objects it owns say so (managedBy) and refuse API edits.
 * Each start here is a real server on one database that outlives it (Postgres, or PGlite in one
 * data folder), as restarts of one deployment would be.
 */

const UPSTREAM_VAR = 'CFG_E2E_UPSTREAM_KEY';
const APP_KEY_VAR = 'CFG_E2E_APP_KEY';
const APP_KEY = `tg_cfg_e2e_${crypto.randomBytes(16).toString('hex')}`;
const HOOK_SECRET_VAR = 'CFG_E2E_HOOK_SECRET';
const HOOK_SECRET = `whsec_cfg_e2e_${crypto.randomBytes(16).toString('hex')}`;

/** The file as a list of lines: tests edit it line by line, and its line numbers are known. */
const FILE = [
  'version: 1', // 1
  'projects:', // 2
  '  - name: acme', // 3
  '    providers:', // 4
  '      - name: sim', // 5
  '        kind: SIMULATED', // 6
  '        simulation: { latencyMs: 0 }', // 7
  '      - name: upstream', // 8
  '        kind: OPENAI_COMPATIBLE', // 9
  '        baseUrl: http://127.0.0.1:9/v1', // 10
  `        upstreamKeys: [env:${UPSTREAM_VAR}]`, // 11
  '        requestsPerMinute: 100', // 12
  '    models:', // 13
  '      - name: cheap', // 14
  '        provider: sim', // 15
  "        promptPrice: '0.14'", // 16
  "        completionPrice: '0.42'", // 17
  '        tiers: [SIMPLE, MODERATE]', // 18
  '      - name: smart', // 19
  '        provider: sim', // 20
  "        promptPrice: '2.00'", // 21
  "        completionPrice: '8.00'", // 22
  "        cachedPromptPrice: '0.50'", // 23
  '        tiers: [COMPLEX]', // 24
  '      - name: remote', // 25
  '        provider: upstream', // 26
  '        promptPrice: 1', // 27
  '        completionPrice: 2', // 28
  '    apiKeys:', // 29
  '      - name: admin', // 30
  '        role: ADMIN', // 31
  '      - name: app', // 32
  `        secret: env:${APP_KEY_VAR}`, // 33
  '        rpmLimit: 100', // 34
  '    budgets:', // 35
  '      - name: daily', // 36
  '        period: DAILY', // 37
  "        limitUsd: '5'", // 38
  '      - name: app-monthly', // 39
  '        period: MONTHLY', // 40
  "        limitUsd: '20'", // 41
  '        apiKey: app', // 42
  '        policy: DOWNGRADE', // 43
  '    webhooks:', // 44
  '      - name: ops', // 45
  '        url: http://127.0.0.1:9/hook', // 46
  '        format: SLACK', // 47
  '      - name: audit', // 48
  '        url: http://127.0.0.1:9/audit', // 49
  `        secret: env:${HOOK_SECRET_VAR}`, // 50
];

/** The file with line `n` (from 1) replaced, or removed when `text` is null. */
function edit(lines: string[], edits: Record<number, string | null>): string[] {
  return lines.flatMap((line, i) => {
    const replaced = edits[i + 1];
    if (replaced === undefined) return [line];
    return replaced === null ? [] : [replaced];
  });
}

/** The file without the upstream provider and its model, the key's budget and the webhook. */
const TRIMMED = edit(
  FILE,
  Object.fromEntries(
    [8, 9, 10, 11, 12, 25, 26, 27, 28, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50].map((n) => [n, null]),
  ),
);

const TABLES = ['projects', 'providers', 'models', 'budgets', 'api_keys', 'webhook_endpoints'];

describe('configuration as code (TOLLGATE_CONFIG)', () => {
  let folder: string;
  let file: string;
  let dataDir: string;
  let database: TestDatabase;
  const secretKey = crypto.randomBytes(32).toString('hex');
  let server: TestServer | undefined;
  let adminKey: string;

  function write(lines: string[], name = 'tollgate.yaml'): string {
    const target = path.join(folder, name);
    fs.writeFileSync(target, lines.join('\n') + '\n');
    return target;
  }

  /** A start of the one deployment: same database, data folder and secret key every time. */
  async function start(env: Record<string, string> = {}): Promise<ConfigFileReport> {
    await server?.close();
    server = undefined;
    server = await TestServer.start(
      {
        TOLLGATE_CONFIG: file,
        TOLLGATE_DATA_DIR: dataDir,
        TOLLGATE_SECRET_KEY: secretKey,
        TOLLGATE_UPSTREAM_ENV_KEYS: UPSTREAM_VAR,
        ...env,
      },
      { databaseUrl: database.url },
    );
    return server.app.configFile!;
  }

  const t = () => server!;

  /** Every row the file can touch, with xmin: a row written again, even unchanged, shows. */
  async function snapshot(): Promise<Record<string, unknown[]>> {
    const rows: Record<string, unknown[]> = {};
    for (const table of TABLES) {
      rows[table] = await t().app.db.query(`SELECT xmin::text AS xmin, * FROM ${table} ORDER BY id`);
    }
    return rows;
  }

  beforeAll(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-config-'));
    dataDir = path.join(folder, 'data');
    database = await createTestDatabase();
    file = write(FILE);
    process.env[UPSTREAM_VAR] = 'sk-upstream-from-the-environment';
    process.env[APP_KEY_VAR] = APP_KEY;
    process.env[HOOK_SECRET_VAR] = HOOK_SECRET;
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await database.drop();
    fs.rmSync(folder, { recursive: true, force: true });
    delete process.env[UPSTREAM_VAR];
    delete process.env[APP_KEY_VAR];
    delete process.env[HOOK_SECRET_VAR];
  });

  it('the first start makes what the file declares, and hands out each generated secret once', async () => {
    const report = await start();
    expect(report.owner).toBe('tollgate.yaml');
    expect(report.created.sort()).toEqual(
      [
        'project acme',
        'provider acme/sim',
        'provider acme/upstream',
        'model acme/cheap',
        'model acme/smart',
        'model acme/remote',
        'API key acme/admin',
        'API key acme/app',
        'budget acme/daily',
        'budget acme/app-monthly',
        'webhook acme/ops',
        'webhook acme/audit',
      ].sort(),
    );
    expect(report.updated).toEqual([]);
    // generated: the admin key and the webhook's signing secret; the app key is the environment's
    expect(report.secrets.map((s) => [s.kind, s.name])).toEqual([
      ['API key', 'admin'],
      ['webhook secret', 'ops'],
    ]);
    adminKey = report.secrets[0]!.secret;
    expect(adminKey).toMatch(/^tg_/);

    const me = await t().ok<{ me: { project: { name: string }; apiKey: { name: string; role: string } } }>(
      '{ me { project { name } apiKey { name role } } }',
      {},
      APP_KEY,
    );
    expect(me.me).toEqual({ project: { name: 'acme' }, apiKey: { name: 'app', role: 'CLIENT' } });
    // a project the file makes has exactly the keys it lists (no extra ADMIN key)
    expect(await t().count('api_keys')).toBe(2);

    const completion = await t().complete(APP_KEY, { model: 'cheap', messages: user('hello') });
    expect(completion.errors).toBeUndefined();
    expect(completion.data!.createChatCompletion).toMatchObject({ model: 'cheap' });
  });

  it('the objects the file owns say so in GraphQL (managedBy)', async () => {
    const data = await t().ok<Record<string, { managedBy: string | null }[]> & { me: { project: object } }>(
      `{ me { project { managedBy } } providers { managedBy } models { managedBy } budgetList { managedBy }
         apiKeys { managedBy } webhookEndpoints { managedBy } }`,
      {},
      adminKey,
    );
    expect(data.me.project).toEqual({ managedBy: 'tollgate.yaml' });
    for (const list of ['providers', 'models', 'budgetList', 'apiKeys', 'webhookEndpoints']) {
      expect(data[list]!.length).toBeGreaterThan(0);
      expect(new Set(data[list]!.map((o) => o.managedBy))).toEqual(new Set(['tollgate.yaml']));
    }
  });

  it('an API edit of a file-owned object is refused (FORBIDDEN, naming the file); API-made ones stay editable', async () => {
    const price = await t().gql(
      'mutation($i: ModelInput!) { upsertModel(input: $i) { id } }',
      { i: { name: 'smart', provider: 'sim', promptPrice: '0.01', completionPrice: '0.01' } },
      adminKey,
    );
    expect(price.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', managedBy: 'tollgate.yaml' });
    expect(price.errors?.[0]?.message).toMatch(
      /Model "smart" is managed by the configuration file tollgate\.yaml/,
    );
    const [row] = (await t().app.db.query(
      `SELECT prompt_price::text AS p FROM models WHERE name = 'smart'`,
    )) as {
      p: string;
    }[];
    expect(Number(row!.p)).toBe(2);

    const ids = await t().ok<{
      budgetList: { id: string }[];
      apiKeys: { id: string; name: string }[];
      webhookEndpoints: { id: string }[];
    }>('{ budgetList { id } apiKeys { id name } webhookEndpoints { id } }', {}, adminKey);
    const appKeyId = ids.apiKeys.find((k) => k.name === 'app')!.id;
    const refused = [
      ['mutation { deleteModel(name: "smart") }', {}],
      [
        'mutation($id: ID!) { updateBudget(id: $id, input: { limitUsd: "1" }) { id } }',
        { id: ids.budgetList[0]!.id },
      ],
      ['mutation($id: ID!) { deleteBudget(id: $id) }', { id: ids.budgetList[0]!.id }],
      ['mutation($id: ID!) { revokeApiKey(id: $id) { id } }', { id: appKeyId }],
      ['mutation($id: ID!) { removeWebhookEndpoint(id: $id) }', { id: ids.webhookEndpoints[0]!.id }],
      [
        'mutation($id: ID!) { setWebhookEndpointEnabled(id: $id, enabled: false) { id } }',
        { id: ids.webhookEndpoints[0]!.id },
      ],
    ] as const;
    for (const [mutation, variables] of refused) {
      const result = await t().gql(mutation, variables, adminKey);
      expect({ mutation, code: result.errors?.[0]?.extensions?.code }).toEqual({
        mutation,
        code: 'FORBIDDEN',
      });
    }

    // the API may still add its own objects to the file's project, and edit them
    for (const promptPrice of ['0.30', '0.35']) {
      const mine = await t().ok<{ upsertModel: { managedBy: string | null; promptPrice: string } }>(
        'mutation($i: ModelInput!) { upsertModel(input: $i) { managedBy promptPrice } }',
        { i: { name: 'mine', provider: 'sim', promptPrice, completionPrice: '1' } },
        adminKey,
      );
      expect(mine.upsertModel).toEqual({ managedBy: null, promptPrice: String(Number(promptPrice)) });
    }
  });

  it('a second start with the same file changes nothing', async () => {
    const before = await snapshot();
    const report = await start();
    expect(report).toMatchObject({ created: [], updated: [], unlisted: [], pruned: [], secrets: [] });
    expect(report.unchanged).toBe(12); // the project and its 11 objects
    expect(await snapshot()).toEqual(before);
    // the keys of the first start still work
    const me = await t().ok<{ me: { apiKey: { name: string } } }>('{ me { apiKey { name } } }', {}, adminKey);
    expect(me.me.apiKey.name).toBe('admin');
  });

  it('an edited price applies at the next start, and only that row is written', async () => {
    const before = await snapshot();
    file = write(edit(FILE, { 21: "        promptPrice: '2.50'" }));
    const report = await start();
    expect(report).toMatchObject({ created: [], updated: ['model acme/smart'], pruned: [] });
    const data = await t().ok<{ models: { name: string; promptPrice: string; cachedPromptPrice: string }[] }>(
      '{ models { name promptPrice cachedPromptPrice } }',
      {},
      adminKey,
    );
    expect(data.models.find((m) => m.name === 'smart')).toEqual({
      name: 'smart',
      promptPrice: '2.5',
      cachedPromptPrice: '0.5',
    });
    const after = await snapshot();
    const smartId = (before.models as { id: string; name: string }[]).find((m) => m.name === 'smart')!.id;
    const untouched = (rows: unknown[]) => (rows as { id: string }[]).filter((r) => r.id !== smartId);
    for (const table of TABLES) expect(untouched(after[table]!)).toEqual(untouched(before[table]!));
  });

  it('a secret read from the environment follows it: changed there, it is rotated at the next start', async () => {
    // The row as stored: its secret sealed with the deployment's TOLLGATE_SECRET_KEY, opened here with it.
    const audit = () => t().app.db.getRepository(WebhookEndpoint).findOneByOrFail({ configKey: 'audit' });
    const before = await audit();
    expect(new SecretBox(secretKey).open(before.secretEncrypted)).toBe(HOOK_SECRET);

    const newKey = `tg_cfg_e2e_rotated_${crypto.randomBytes(12).toString('hex')}`;
    process.env[APP_KEY_VAR] = newKey;
    process.env[HOOK_SECRET_VAR] = `${HOOK_SECRET}-rotated`;
    try {
      const report = await start();
      expect(report).toMatchObject({ created: [], updated: ['API key acme/app', 'webhook acme/audit'] });
      expect((await t().gql('{ me { kind } }', {}, APP_KEY)).errors?.[0]?.extensions?.code).toBe(
        'UNAUTHENTICATED',
      );
      const me = await t().ok<{ me: { apiKey: { name: string } } }>('{ me { apiKey { name } } }', {}, newKey);
      expect(me.me.apiKey.name).toBe('app');
      const rotated = await audit();
      expect(rotated.id).toBe(before.id);
      expect(new SecretBox(secretKey).open(rotated.secretEncrypted)).toBe(`${HOOK_SECRET}-rotated`);
    } finally {
      process.env[APP_KEY_VAR] = APP_KEY;
      process.env[HOOK_SECRET_VAR] = HOOK_SECRET;
    }
    // and back (a text is refused only while another key, revoked or not, holds it)
    const back = await start();
    expect(back.updated).toEqual(['API key acme/app', 'webhook acme/audit']);
  });

  it('what the file no longer lists is reported and kept; with prune it is removed', async () => {
    // the upstream provider and its model, the key's budget and the webhook: gone from the file
    file = write(TRIMMED.map((line) => line.replace("promptPrice: '2.00'", "promptPrice: '2.50'")));
    const gone = [
      'model acme/remote',
      'provider acme/upstream',
      'budget acme/app-monthly',
      'webhook acme/ops',
      'webhook acme/audit',
    ];
    const kept = await start();
    expect(kept).toMatchObject({ created: [], updated: [], pruned: [] });
    expect(kept.unlisted).toEqual(gone);
    expect(await t().count('models', `name = 'remote'`)).toBe(1);
    expect(await t().count('webhook_endpoints')).toBe(2);

    const pruned = await start({ TOLLGATE_CONFIG_PRUNE: 'true' });
    expect(pruned.pruned).toEqual(gone);
    expect(await t().count('models', `name = 'remote'`)).toBe(0);
    expect(await t().count('providers', `name = 'upstream'`)).toBe(0);
    expect(await t().count('budgets')).toBe(1);
    expect(await t().count('webhook_endpoints')).toBe(0);
    // the API's own model is none of the file's business
    expect(await t().count('models', `name = 'mine'`)).toBe(1);

    const again = await start();
    expect(again).toMatchObject({ created: [], updated: [], unlisted: [], pruned: [] });
  });

  it('an invalid file stops the start with a message naming its line, before anything opens', async () => {
    const bad = write(
      edit(FILE, { 21: "        promptPrice: '2.1234567'", 33: '        secret: plain-text' }),
      'bad.yaml',
    );
    const config = loadConfig({
      PORT: '0',
      TOLLGATE_CONFIG: bad,
      TOLLGATE_DATA_DIR: path.join(folder, 'never-made'),
      LOG_LEVEL: 'silent',
    });
    const failure = startApp(config);
    await expect(failure).rejects.toThrow(
      `${bad}:21:9 projects[0].models[1].promptPrice: promptPrice must be >= 0 with at most 6 decimals`,
    );
    await expect(failure).rejects.toThrow(`${bad}:33:9 projects[0].apiKeys[1].secret: must be env:NAME`);
    expect(fs.existsSync(path.join(folder, 'never-made'))).toBe(false);
  });

  it('what only the server can check (egress, the environment) stops the start at its line, having written nothing', async () => {
    // 169.254.169.254 is the metadata service: closed unless the operator opens it; the price edit
    // and the objects pruned before would be written, were anything written
    file = write(
      edit(FILE, { 10: '        baseUrl: http://169.254.169.254/v1', 16: "        promptPrice: '0.99'" }),
      'policy.yaml',
    );
    delete process.env[APP_KEY_VAR];
    try {
      await expect(start()).rejects.toThrow(
        /policy\.yaml:10:9 projects\[0\]\.providers\[1\]\.baseUrl: baseUrl: .*\n.*policy\.yaml:33:9 projects\[0\]\.apiKeys\[1\]\.secret: the environment variable CFG_E2E_APP_KEY is not set/,
      );
    } finally {
      process.env[APP_KEY_VAR] = APP_KEY;
    }
    expect(server).toBeUndefined();
    // the database was left as it was, and the next start opens it
    file = write(TRIMMED);
    const report = await start();
    expect(report).toMatchObject({ created: [], updated: ['model acme/smart'], pruned: [] });
    expect(await t().count('models', `name = 'cheap' AND prompt_price = 0.14`)).toBe(1);
    expect(await t().count('models', `name = 'remote'`)).toBe(0);
  });

  it('routing settings come from the file, and the environment may not give them too', async () => {
    const routed = [
      'version: 1',
      'routing:',
      '  rules: { complexOverContextChars: 1 }',
      '  fallbackChain: [tier]',
      ...TRIMMED.slice(1),
    ];
    file = write(routed);
    await start();
    // with every prompt past one character complex, "auto" serves the COMPLEX tier
    const completion = await t().complete(APP_KEY, { messages: user('hello there') });
    expect(completion.errors).toBeUndefined();
    expect(completion.data!.createChatCompletion).toMatchObject({
      model: 'smart',
      routing: { tier: 'COMPLEX' },
    });

    await server!.close();
    server = undefined;
    await expect(start({ TOLLGATE_ROUTING_RULES: '{"simpleMaxMessages":1}' })).rejects.toThrow(
      /tollgate\.yaml:3:3 routing\.rules: TOLLGATE_ROUTING_RULES is set too/,
    );
    server = undefined;
  });
});

describe('the example file (examples/tollgate.yaml)', () => {
  const example = path.join(__dirname, '..', '..', 'examples', 'tollgate.yaml');

  /** A project's catalog, budgets and keys as rows, without ids, times or owners. */
  async function catalogOf(t: TestServer, projectId: string): Promise<Record<string, unknown[]>> {
    const q = (sql: string) => t.app.db.query(sql, [projectId]) as Promise<unknown[]>;
    return {
      providers: await q(
        `SELECT name, kind, base_url, upstream_keys, requests_per_minute, max_concurrency, timeout_ms, simulation
           FROM providers WHERE project_id = $1 ORDER BY name`,
      ),
      models: await q(
        `SELECT m.name, p.name AS provider, m.upstream_name, m.prompt_price::text, m.completion_price::text,
                m.cached_prompt_price::text, m.cache_write_price::text, m.prompt_margin::text, m.tiers, m.enabled
           FROM models m JOIN providers p ON p.id = m.provider_id WHERE m.project_id = $1 ORDER BY m.name`,
      ),
      budgets: await q(
        `SELECT period, limit_usd::text, time_zone, thresholds, policy, api_key_id
           FROM budgets WHERE project_id = $1 ORDER BY period`,
      ),
      keys: await q(
        `SELECT name, role, rpm_limit, tpm_limit, revoked_at FROM api_keys WHERE project_id = $1 ORDER BY name`,
      ),
      project: await q(`SELECT name FROM projects WHERE id = $1`),
    };
  }

  it('declares exactly what the demo seed makes', async () => {
    const seeded = await TestServer.start({ TOLLGATE_SEED_DEMO: 'true' });
    const fromFile = await TestServer.start({ TOLLGATE_CONFIG: example });
    try {
      expect(seeded.app.demo).not.toBeNull();
      const report = fromFile.app.configFile!;
      expect(report.updated).toEqual([]);
      const [project] = (await fromFile.app.db.query(`SELECT id FROM projects`)) as { id: string }[];
      const seededCatalog = await catalogOf(seeded, seeded.app.demo!.projectId);
      expect(seededCatalog.models).toHaveLength(5);
      expect(await catalogOf(fromFile, project!.id)).toEqual(seededCatalog);
      // and its generated ADMIN key works as the demo's does
      const key = report.secrets.find((s) => s.name === 'admin')!.secret;
      const me = await fromFile.ok<{ me: { project: { name: string; managedBy: string } } }>(
        '{ me { project { name managedBy } } }',
        {},
        key,
      );
      expect(me.me.project).toEqual({ name: 'demo', managedBy: 'tollgate.yaml' });
    } finally {
      await fromFile.close();
      await seeded.close();
    }
  });
});

describe('a configuration file that fails half-way through', () => {
  it('stops the start, and says what it had applied and every secret it made, so none is lost', async () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-config-half-'));
    const database = await createTestDatabase();
    const TAKEN_VAR = 'CFG_E2E_TAKEN_SECRET';
    const file = path.join(folder, 'half.yaml');
    const keys = (...entries: string[]) =>
      ['version: 1', 'projects:', '  - name: half', '    apiKeys:', ...entries].join('\n') + '\n';
    const start = () =>
      TestServer.start(
        {
          TOLLGATE_CONFIG: file,
          TOLLGATE_DATA_DIR: path.join(folder, 'data'),
          TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex'),
        },
        { databaseUrl: database.url },
      );
    try {
      fs.writeFileSync(file, keys('      - name: admin', '        role: ADMIN'));
      const first = await start();
      const admin = first.app.configFile!.secrets[0]!.secret;
      await first.close();
      // `ci` is made (its secret generated) before `svc` is refused: its secret is another key's
      // text, which only the database can tell
      process.env[TAKEN_VAR] = admin;
      fs.writeFileSync(
        file,
        keys(
          '      - name: admin',
          '        role: ADMIN',
          '      - name: ci',
          '      - name: svc',
          `        secret: env:${TAKEN_VAR}`,
        ),
      );
      const failed = await start().then(
        () => null,
        (error: unknown) => error,
      );
      expect(failed).toBeInstanceOf(ConfigFileError);
      const error = failed as ConfigFileError;
      expect(error.message).toMatch(/half\.yaml:9:9 projects\[0\]\.apiKeys\[2\]/);
      expect(error.applied.created).toEqual(['API key half/ci']);
      expect(error.applied.secrets).toEqual([
        { project: 'half', kind: 'API key', name: 'ci', secret: expect.stringMatching(/^tg_/) as string },
      ]);
    } finally {
      delete process.env[TAKEN_VAR];
      await database.drop();
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, type App } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/shared/logger';
import { COMPLETION, type GqlResult } from '../support/harness';

/**
 * The embedded mode on its own: no DATABASE_URL (even when the test run has one), so the app
 * runs PGlite in a fresh folder, migrates, seeds the demo project, and keeps it across restarts.
 */
describe('embedded mode (PGlite in a local folder, simulated provider, demo seed)', () => {
  let dataDir: string;
  let app: App | undefined;

  // Deliberately not process.env: DATABASE_URL must stay unset whatever the test run has.
  const start = () => {
    const config = loadConfig({
      PORT: '0',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_SEED_DEMO: 'true',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    });
    expect(config.databaseUrl).toBeUndefined();
    return startApp(config, createLogger(config.logLevel));
  };

  async function gql<T>(
    query: string,
    variables: Record<string, unknown>,
    key: string,
  ): Promise<GqlResult<T>> {
    const response = await fetch(app!.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, ...((await response.json()) as Omit<GqlResult<T>, 'status'>) };
  }

  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-embedded-'));
  });

  afterAll(async () => {
    await app?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  let demoKey: string;
  let demoProjectId: string;
  let firstRecordId: string;

  it('starts from an empty folder: migrates, seeds the demo project and serves a completion', async () => {
    expect(fs.readdirSync(dataDir)).toEqual([]);
    app = await start();

    // The database lives in the folder, and the schema is migrated.
    expect(fs.existsSync(path.join(dataDir, 'pgdata'))).toBe(true);
    const migrations = (await app.db.query(`SELECT name FROM migrations`)) as { name: string }[];
    expect(migrations.length).toBeGreaterThan(0);
    expect(app.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);

    // The demo project, with its ADMIN key, provider, models and budgets.
    expect(app.demo).not.toBeNull();
    demoKey = app.demo!.adminKey;
    demoProjectId = app.demo!.projectId;
    expect(demoKey).toMatch(/^tg_/);
    const me = await gql<{
      me: { kind: string; project: { id: string; name: string }; apiKey: { role: string } };
    }>('{ me { kind project { id name } apiKey { role } } }', {}, demoKey);
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toEqual({
      kind: 'API_KEY',
      project: { id: demoProjectId, name: 'demo' },
      apiKey: { role: 'ADMIN' },
    });
    const catalog = await gql<{ providers: { name: string; kind: string }[]; models: { name: string }[] }>(
      '{ providers { name kind } models { name } }',
      {},
      demoKey,
    );
    expect(catalog.data!.providers).toEqual([
      { name: 'simulated', kind: 'SIMULATED' },
      { name: 'simulated-anthropic', kind: 'SIMULATED' },
    ]);
    expect(catalog.data!.models.map((m) => m.name).sort()).toEqual([
      'claude-sonnet-4.5',
      'deepseek-chat',
      'gemini-2.5-flash',
      'gpt-4.1',
      'text-embedding-3-small',
    ]);

    // A completion on the simulated provider, offline, metered and charged against the demo budgets.
    const result = await gql<{ createChatCompletion: Record<string, unknown> & { id: string } }>(
      COMPLETION,
      { input: { model: 'deepseek-chat', messages: [{ role: 'user', content: 'Hello, embedded' }] } },
      demoKey,
    );
    expect(result.errors).toBeUndefined();
    const completion = result.data!.createChatCompletion;
    expect(completion).toMatchObject({
      model: 'deepseek-chat',
      priced: true,
      replayed: false,
      routing: { provider: 'simulated', modelRequested: 'deepseek-chat' },
    });
    expect(typeof completion.content).toBe('string');
    expect((completion.content as string).length).toBeGreaterThan(0);
    expect(Number(completion.cost)).toBeGreaterThan(0);
    firstRecordId = completion.id;
    const [row] = (await app.db.query(
      `SELECT project_id, outcome, cost::text AS cost FROM usage_records WHERE id = $1`,
      [firstRecordId],
    )) as { project_id: string; outcome: string; cost: string }[];
    expect(row).toMatchObject({ project_id: demoProjectId, outcome: 'SUCCESS' });
    expect(Number(row!.cost)).toBe(Number(completion.cost));

    const status = await gql<{ budgetStatus: { requests: number; budget: { period: string } }[] }>(
      '{ budgetStatus { requests budget { period } } }',
      {},
      demoKey,
    );
    expect(status.data!.budgetStatus.map((s) => [s.budget.period, s.requests]).sort()).toEqual([
      ['DAILY', 1],
      ['MONTHLY', 1],
    ]);

    await app.close();
    app = undefined;
  }, 120_000);

  it('starts again on the same folder: no second seed, the same key works, the earlier record is kept', async () => {
    expect(demoKey).toBeDefined();
    app = await start();
    expect(app.demo).toBeNull();
    const [projects] = (await app.db.query(`SELECT count(*)::int AS n FROM projects`)) as {
      n: number;
    }[];
    expect(projects!.n).toBe(1);

    const me = await gql<{ me: { project: { id: string } } }>('{ me { project { id } } }', {}, demoKey);
    expect(me.errors).toBeUndefined();
    expect(me.data!.me.project.id).toBe(demoProjectId);

    const records = await gql<{ usageRecords: { nodes: { id: string }[] } }>(
      '{ usageRecords { nodes { id } } }',
      {},
      demoKey,
    );
    expect(records.errors).toBeUndefined();
    expect(records.data!.usageRecords.nodes.map((n) => n.id)).toEqual([firstRecordId]);

    // And it still serves: a second completion adds to the same ledger and the same budgets.
    const again = await gql<{ createChatCompletion: { id: string } }>(
      COMPLETION,
      { input: { model: 'deepseek-chat', messages: [{ role: 'user', content: 'Hello again' }] } },
      demoKey,
    );
    expect(again.errors).toBeUndefined();
    const [usageRows] = (await app.db.query(`SELECT count(*)::int AS n FROM usage_records`)) as {
      n: number;
    }[];
    expect(usageRows!.n).toBe(2);
    const status = await gql<{ budgetStatus: { requests: number }[] }>(
      '{ budgetStatus { requests } }',
      {},
      demoKey,
    );
    expect(status.data!.budgetStatus.map((s) => s.requests)).toEqual([2, 2]);
  }, 120_000);

  it("the demo's Claude speaks Anthropic offline: a cached prefix is written, then read, at its prices", async () => {
    const base = app!.url.replace('/graphql', '');
    const manual = 'Chapter after chapter of the operating manual of the gateway. '.repeat(150);
    const ask = async () => {
      const response = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': demoKey },
        body: JSON.stringify({
          model: 'claude-sonnet-4.5',
          max_tokens: 50,
          system: [{ type: 'text', text: manual, cache_control: { type: 'ephemeral' } }],
          messages: [{ role: 'user', content: 'What does chapter one say?' }],
        }),
      });
      expect(response.status).toBe(200);
      return (await response.json()) as {
        usage: Record<string, number>;
        tollgate: { cost: string; cache_savings: string; request_id: string };
      };
    };
    const first = await ask();
    const second = await ask();
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(1024);
    expect(second.usage.cache_read_input_tokens).toBe(first.usage.cache_creation_input_tokens);
    const rows = (await app!.db.query(
      `SELECT cache_write_tokens, cached_prompt_tokens, cost::text AS cost FROM usage_records
        WHERE request_id = ANY($1) ORDER BY created_at`,
      [[first.tollgate.request_id, second.tollgate.request_id]],
    )) as { cache_write_tokens: number; cached_prompt_tokens: number; cost: string }[];
    expect(rows.map((r) => [r.cache_write_tokens, r.cached_prompt_tokens])).toEqual([
      [first.usage.cache_creation_input_tokens, 0],
      [0, first.usage.cache_creation_input_tokens],
    ]);
    expect(Number(rows[1]!.cost)).toBeLessThan(Number(rows[0]!.cost));
    expect(Number(second.tollgate.cache_savings)).toBeGreaterThan(0);
  }, 60_000);

  it('serves a completion after more than 10 s of quiet (the idle connection is kept)', async () => {
    // node-postgres closes a connection idle for 10 s; PGlite's one session outlives it, and a new
    // connection used to find the ledger's prepared statement there already.
    await new Promise((r) => setTimeout(r, 11_000)); // time passing is the point
    const result = await gql<{ createChatCompletion: { cost: string } }>(
      COMPLETION,
      { input: { model: 'deepseek-chat', messages: [{ role: 'user', content: 'Still there?' }] } },
      demoKey,
    );
    expect(result.errors).toBeUndefined();
    expect(Number(result.data!.createChatCompletion.cost)).toBeGreaterThan(0);
  }, 60_000);
});

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { createLogger } from '../../src/shared/logger';
import { createTestDatabase } from './database';

export const OPERATOR_KEY = 'operator-test-key-0123456789';

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> & { code?: string } }[];
}

/** A result's data; any error fails the test. */
export function dataOf<T>(result: GqlResult<T>): T {
  if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data as T;
}

/**
 * One real server for a test file: its own database (a fresh Postgres database, or embedded
 * PGlite in a temp folder), the real HTTP and WebSocket server on a free port, and a cleanup
 * list that `close()` drains in reverse.
 */
export class TestServer {
  private cleanups: (() => Promise<unknown> | unknown)[] = [];
  app!: App;
  config!: Config;

  /**
   * `options.databaseUrl`: run on that database (another TestServer's, to test several instances
   * sharing one), neither created nor dropped here.
   */
  static async start(
    env: Record<string, string> = {},
    options: { databaseUrl?: string } = {},
  ): Promise<TestServer> {
    const t = new TestServer();
    const database = options.databaseUrl
      ? { url: options.databaseUrl, drop: async () => undefined }
      : await createTestDatabase();
    t.defer(() => database.drop());
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-test-'));
    t.defer(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    t.config = loadConfig({
      PORT: '0',
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_OPERATOR_KEY: OPERATOR_KEY,
      TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex'),
      TOLLGATE_SEED_DEMO: 'false',
      // the fake upstreams and webhook receivers of the tests listen on loopback: the operator's opt-in
      TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32',
      TOLLGATE_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
      TOLLGATE_METRICS_COALESCE_MS: '20',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
      ...env,
    });
    t.app = await startApp(t.config, createLogger(t.config.logLevel));
    t.defer(() => t.app.close());
    return t;
  }

  defer(fn: () => Promise<unknown> | unknown): void {
    this.cleanups.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep draining: one failed cleanup must not leak the rest
      }
    }
    this.cleanups = [];
  }

  async gql<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    key?: string,
  ): Promise<GqlResult<T>> {
    const response = await fetch(this.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, ...((await response.json()) as Omit<GqlResult<T>, 'status'>) };
  }

  /** Like gql, but fails the test on any error and returns data. */
  async ok<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown>,
    key: string,
  ): Promise<T> {
    return dataOf(await this.gql<T>(query, variables, key));
  }

  /** A graphql-ws client authenticated with `key` (closed at cleanup). */
  wsClient(key: string | undefined, onClose?: (code: number) => void): Client {
    const client = createClient({
      url: this.app.wsUrl,
      webSocketImpl: WebSocket,
      connectionParams: key ? { authorization: `Bearer ${key}` } : {},
      retryAttempts: 0,
      lazy: false,
      // a close is reported through `on.closed`; the client's default would print the CloseEvent
      onNonLazyError: () => undefined,
      on: { closed: (event) => onClose?.((event as { code: number }).code) },
    });
    this.defer(() => client.dispose());
    return client;
  }

  /** Creates a project through the operator key; returns its id and ADMIN key. */
  async createProject(name = 'p'): Promise<{ projectId: string; adminKey: string }> {
    const data = await this.ok<{ createProject: { project: { id: string }; adminKey: { key: string } } }>(
      `mutation($name: String!) { createProject(name: $name) { project { id } adminKey { key } } }`,
      { name },
      OPERATOR_KEY,
    );
    return { projectId: data.createProject.project.id, adminKey: data.createProject.adminKey.key };
  }

  async createKey(
    adminKey: string,
    role: 'ADMIN' | 'CLIENT' = 'CLIENT',
    name = 'k',
  ): Promise<{ id: string; key: string }> {
    const data = await this.ok<{ createApiKey: { apiKey: { id: string }; key: string } }>(
      `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { apiKey { id } key } }`,
      { input: { name, role } },
      adminKey,
    );
    return { id: data.createApiKey.apiKey.id, key: data.createApiKey.key };
  }

  /** A provider (simulated unless baseUrl is given) and the four reference models on it. */
  async addCatalog(
    adminKey: string,
    options: { baseUrl?: string; simulation?: Record<string, number> } = {},
  ): Promise<void> {
    const provider = options.baseUrl
      ? {
          name: 'upstream',
          kind: 'OPENAI_COMPATIBLE',
          baseUrl: options.baseUrl,
          upstreamKeys: ['sk-test-upstream'],
        }
      : { name: 'upstream', kind: 'SIMULATED', simulation: options.simulation ?? {} };
    await this.ok(
      `mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }`,
      { input: provider },
      adminKey,
    );
    const models = [
      { name: 'deepseek-chat', promptPrice: '0.14', completionPrice: '0.42', tiers: ['SIMPLE', 'MODERATE'] },
      {
        name: 'gemini-2.5-flash',
        promptPrice: '0.10',
        completionPrice: '2.50',
        tiers: ['SIMPLE', 'MODERATE'],
      },
      { name: 'gpt-4.1', promptPrice: '2.00', completionPrice: '8.00', tiers: ['COMPLEX'] },
      { name: 'claude-sonnet-4.5', promptPrice: '3.00', completionPrice: '15.00', tiers: ['COMPLEX'] },
    ];
    for (const m of models) {
      await this.ok(
        `mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`,
        { input: { ...m, provider: 'upstream' } },
        adminKey,
      );
    }
  }

  async createBudget(adminKey: string, input: Record<string, unknown>): Promise<string> {
    const data = await this.ok<{ createBudget: { id: string } }>(
      `mutation($input: CreateBudgetInput!) { createBudget(input: $input) { id } }`,
      { input },
      adminKey,
    );
    return data.createBudget.id;
  }

  complete(
    key: string,
    input: Record<string, unknown>,
  ): Promise<GqlResult<{ createChatCompletion: Record<string, unknown> }>> {
    return this.gql(COMPLETION, { input }, key);
  }

  /** Rows in a table, read straight from the database. */
  async count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
    const [row] = (await this.app.db.query(
      `SELECT count(*)::int AS n FROM ${table} WHERE ${where}`,
      params,
    )) as { n: number }[];
    if (!row) throw new Error('count(*) returned no row');
    return row.n;
  }
}

export const COMPLETION = `mutation($input: ChatCompletionInput!) {
  createChatCompletion(input: $input) {
    id requestId model content finishReason cost priced latencyMs attempts replayed
    usage { promptTokens completionTokens totalTokens }
    routing { tier modelRequested model provider fallbacks downgraded }
  }
}`;

/** Waits until `predicate` holds (polling), or fails after `ms`. */
export async function eventually<T, U extends T>(
  fn: () => Promise<T> | T,
  predicate: (v: T) => v is U,
  ms?: number,
): Promise<U>;
export async function eventually<T>(
  fn: () => Promise<T> | T,
  predicate: (v: T) => boolean,
  ms?: number,
): Promise<T>;
export async function eventually<T>(
  fn: () => Promise<T> | T,
  predicate: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (predicate(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`condition not met in ${ms} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const user = (content: string) => [{ role: 'user', content }];

/**
 * Resolves once the server has taken every subscription sent on `client` so far. graphql-ws
 * acknowledges no subscription, so this sends a query on the same socket and waits for its answer:
 * the server starts on a socket's messages in the order they came, a subscription registers with
 * no I/O after its key check (which its connection has just cached) while the query's answer has
 * to cross the socket, so it is read after the subscriptions ahead of it are listening.
 */
export function subscribed(client: Client): Promise<void> {
  return new Promise((resolve, reject) => {
    client.subscribe(
      { query: '{ __typename }' },
      { next: () => undefined, error: (error) => reject(error as Error), complete: resolve },
    );
  });
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApolloServer } from '@apollo/server';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { buildServices, createResolvers, type Services } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { createDataSource, createPool } from '../../src/db/data-source';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import type { BudgetService, BudgetInput } from '../../src/modules/budgets/budget.service';
import { Ledger } from '../../src/modules/budgets/ledger';
import type { AbandonedRow, UsageRow } from '../../src/modules/budgets/ledger.types';
import type { ReservationService, ReservationPolicy } from '../../src/modules/budgets/reservation.service';
import { LocalEventBus } from '../../src/modules/events/event-bus';
import { MemoryRateStore } from '../../src/modules/limits/rate.store';
import type { Caller } from '../../src/modules/projects/auth.service';
import type { ProjectService } from '../../src/modules/projects/project.service';
import { createLoaders, type Context } from '../../src/modules/projects/request-context';
import { createFormatError } from '../../src/server/format-error';
import { MAX_PARSE_TOKENS, queryLimits } from '../../src/server/query-limits';
import { createSchema } from '../../src/server/schema';
import { UnauthenticatedError } from '../../src/shared/errors';
import { createLogger } from '../../src/shared/logger';
import { formatUsd, type Pico } from '../../src/shared/money';
import { stopEstimateWorker } from '../../src/shared/prompt-estimate.async';
import { SecretBox } from '../../src/shared/secret-box';
import { Tracing } from '../../src/shared/tracing';
import { createTestDatabase } from './database';
import { COMPLETION, dataOf, OPERATOR_KEY, type GqlResult } from './harness';

export interface InProcessOptions extends Partial<ReservationPolicy> {
  ledgerTimeoutMs?: number;
  /** Further settings, as the environment gives them (`TOLLGATE_IDEMPOTENCY_LEASE_MS`, ...). */
  env?: Record<string, string>;
}

/**
 * The in-process tier: the app's services (src/app.ts `buildServices`, the same wiring) on a
 * migrated database of their own (a copy of the migrated template on Postgres, embedded PGlite
 * otherwise), with no HTTP server, sweeper or webhook worker running. For what is tested best below
 * the API: the ledger's SQL functions, reservations, sweeps, batches, what a dead instance leaves
 * behind; and the resolvers, through Apollo's `executeOperation` on the real schema (`gql`), with
 * the context the HTTP server builds for a key.
 */
export class InProcess {
  readonly budgets: BudgetService;
  readonly projects: ProjectService;
  readonly reservations: ReservationService;
  private apollo: Promise<ApolloServer<Context>> | undefined;
  private constructor(
    readonly db: DataSource,
    readonly pool: Pool,
    readonly ledger: Ledger,
    readonly services: Services,
    readonly config: Config,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.budgets = services.budgets;
    this.projects = services.projects;
    this.reservations = services.reservations;
  }

  static async start(options: InProcessOptions = {}): Promise<InProcess> {
    const database = await createTestDatabase();
    let embedded: EmbeddedDatabase | undefined;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-inproc-'));
    let url = database.url;
    if (!url) {
      embedded = await startEmbeddedDatabase(path.join(dataDir, 'pgdata'), 1);
      url = embedded.url;
    }
    const pool = createPool(url, embedded ? 1 : 3, undefined, embedded !== undefined);
    const db = createDataSource(url, embedded ? 1 : 4, embedded ? pool : undefined);
    await db.initialize();
    await migrate(db, false);
    // The settings a TestServer gets, with the reservation policy and ledger timeout asked for.
    const config = loadConfig({
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_OPERATOR_KEY: OPERATOR_KEY,
      TOLLGATE_SECRET_KEY: crypto.randomBytes(32).toString('hex'),
      TOLLGATE_SEED_DEMO: 'false',
      TOLLGATE_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32',
      TOLLGATE_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
      TOLLGATE_RESERVATION_TTL_MS: String(options.ttlMs ?? 60_000),
      TOLLGATE_ABANDONED_HOLDS: options.chargeAbandoned === false ? 'release' : 'charge',
      TOLLGATE_LEDGER_TIMEOUT_MS: String(options.ledgerTimeoutMs ?? 30_000),
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
      ...options.env,
    });
    const ledger = new Ledger(pool, config.ledgerTimeoutMs);
    const bus = new LocalEventBus();
    const rates = new MemoryRateStore();
    const services = buildServices(
      config,
      db,
      ledger,
      createLogger(config.logLevel),
      new SecretBox(config.secretKey!),
      bus,
      rates,
    );
    const t: InProcess = new InProcess(db, pool, ledger, services, config, async () => {
      // What App.close() does, less the HTTP server and the sweeper (never started here).
      await t.apollo?.then((apollo) => apollo.stop());
      await services.completions.idle();
      await services.reservations.close();
      await services.idempotency.close();
      services.metrics.flush();
      await services.worker.stop();
      await bus.close();
      await rates.close();
      await stopEstimateWorker();
      await db.destroy();
      if (!embedded) await pool.end();
      await embedded?.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    });
    return t;
  }

  get embedded(): boolean {
    return !process.env.DATABASE_URL;
  }

  async close(): Promise<void> {
    await this.cleanup();
  }

  /**
   * Runs an operation through the real schema with Apollo's `executeOperation` (no HTTP), as `key`
   * (or as nobody), in the context the HTTP server builds: the key checked by the auth service (a
   * refused key is an `authFailure`, as over HTTP), per-request loaders; errors formatted by the
   * server's one formatter, operations limited by its query limits.
   */
  async gql<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown> = {},
    key?: string,
  ): Promise<GqlResult<T>> {
    this.apollo ??= this.startApollo();
    const apollo = await this.apollo;
    const response = await apollo.executeOperation<T>(
      { query, variables },
      { contextValue: { ...(await this.callerOf(key)), loaders: createLoaders(this.db) } },
    );
    if (response.body.kind !== 'single') throw new Error('an incremental result: no operation here defers');
    const { data, errors } = response.body.singleResult;
    return {
      status: response.http.status ?? 200,
      data,
      ...(errors ? { errors: errors as GqlResult['errors'] } : {}),
    };
  }

  /** Like gql, but fails the test on any error and returns data. */
  async ok<T = Record<string, unknown>>(
    query: string,
    variables: Record<string, unknown>,
    key: string,
  ): Promise<T> {
    return dataOf(await this.gql<T>(query, variables, key));
  }

  complete(
    key: string,
    input: Record<string, unknown>,
  ): Promise<GqlResult<{ createChatCompletion: Record<string, unknown> }>> {
    return this.gql(COMPLETION, { input }, key);
  }

  /** A project with its ADMIN key and a CLIENT key, in plain text (for `gql`). */
  async keyedProject(
    name = `p-${Math.random().toString(36).slice(2)}`,
  ): Promise<{ projectId: string; adminKey: string; client: { id: string; key: string } }> {
    const { project, adminKey } = await this.projects.createProject(name);
    const client = await this.projects.createApiKey(project.id, 'client', 'CLIENT', {});
    return {
      projectId: project.id,
      adminKey: adminKey.plaintext,
      client: { id: client.apiKey.id, key: client.plaintext },
    };
  }

  /** Rows in a table, read straight from the database. */
  async count(table: string, where = 'true', params: unknown[] = []): Promise<number> {
    const [row] = (await this.db.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params)) as {
      n: number;
    }[];
    if (!row) throw new Error('count(*) returned no row');
    return row.n;
  }

  /** Who calls, as server/http.ts's context decides it (without the failed-auth throttle). */
  private async callerOf(key: string | undefined): Promise<Caller> {
    if (!key) return {};
    try {
      return { principal: await this.services.auth.authenticateHeader(`Bearer ${key}`) };
    } catch (error) {
      if (!(error instanceof UnauthenticatedError)) throw error;
      return { authFailure: error };
    }
  }

  /** The schema the app builds (createResolvers over these services), in an Apollo server set up as the HTTP one. */
  private async startApollo(): Promise<ApolloServer<Context>> {
    const schema = await createSchema(
      createResolvers(this.services, this.db, Tracing.off()),
      this.services.bus,
    );
    const log = createLogger(this.config.logLevel);
    const limits = queryLimits(this.config.introspection);
    const apollo = new ApolloServer<Context>({
      schema,
      formatError: createFormatError(() => log),
      includeStacktraceInErrorResponses: false,
      introspection: this.config.introspection,
      stopOnTerminationSignals: false,
      validationRules: limits.validationRules,
      parseOptions: { maxTokens: MAX_PARSE_TOKENS },
      plugins: limits.plugins,
    });
    await apollo.start();
    return apollo;
  }

  /** A project with a CLIENT key and, for each input, a budget (in order). */
  async tenant(
    ...budgets: BudgetInput[]
  ): Promise<{ projectId: string; keyId: string; budgetIds: string[] }> {
    const { project } = await this.projects.createProject(`p-${Math.random().toString(36).slice(2)}`);
    const { apiKey } = await this.projects.createApiKey(project.id, 'client', 'CLIENT', {});
    const budgetIds: string[] = [];
    for (const input of budgets) budgetIds.push((await this.budgets.create(project.id, input)).id);
    return { projectId: project.id, keyId: apiKey.id, budgetIds };
  }

  /** A budget's counters summed over its windows, and what the project's usage records say. */
  async books(projectId: string, budgetId: string) {
    const [c] = (await this.db.query(
      `SELECT coalesce(sum(spent), 0)::text AS spent, coalesce(sum(reserved), 0)::text AS reserved,
              coalesce(sum(requests), 0)::int AS requests, coalesce(sum(prompt_tokens), 0)::int AS prompt
         FROM budget_counters WHERE budget_id = $1`,
      [budgetId],
    )) as { spent: string; reserved: string; requests: number; prompt: number }[];
    const [u] = (await this.db.query(
      `SELECT coalesce(sum(cost), 0)::text AS cost, count(*)::int AS n,
              count(*) FILTER (WHERE outcome = 'ABANDONED')::int AS abandoned
         FROM usage_records WHERE project_id = $1`,
      [projectId],
    )) as { cost: string; n: number; abandoned: number }[];
    const [r] = (await this.db.query(
      `SELECT count(*) FILTER (WHERE status = 'ACTIVE')::int AS active FROM reservations WHERE project_id = $1`,
      [projectId],
    )) as { active: number }[];
    return {
      spent: c!.spent,
      reserved: c!.reserved,
      requests: c!.requests,
      promptTokens: c!.prompt,
      usageCost: u!.cost,
      usageRows: u!.n,
      abandonedRows: u!.abandoned,
      activeReservations: r!.active,
    };
  }
}

/** A usage record of a call of `tenant`, as the pipeline writes it, costing `cost`. */
export function usageRow(
  tenant: { projectId: string; keyId: string },
  requestId: string,
  cost: Pico,
  tokens = { prompt: 100, completion: 50 },
): UsageRow {
  return {
    id: crypto.randomUUID(),
    project_id: tenant.projectId,
    api_key_id: tenant.keyId,
    request_id: requestId,
    ...abandonedRow(tokens),
    total_tokens: tokens.prompt + tokens.completion,
    cached_prompt_tokens: 0,
    cache_write_tokens: 0,
    reasoning_tokens: 0,
    cache_savings: '0',
    priced: true,
    price_note: null,
    gateway_latency_ms: 1,
    upstream_latency_ms: 1,
    attempts: 1,
    downgraded: false,
    cost: formatUsd(cost),
    outcome: 'SUCCESS',
    error_code: null,
  };
}

/** What a reservation keeps to write if its call is abandoned (what the call knows when it reserves). */
export function abandonedRow(tokens = { prompt: 100, completion: 50 }): AbandonedRow {
  return {
    kind: 'CHAT',
    model_requested: 'deepseek-chat',
    model_served: 'deepseek-chat',
    provider: 'upstream',
    route_tier: null,
    prompt_tokens: tokens.prompt,
    completion_tokens: tokens.completion,
    fallbacks: [],
  };
}

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource, createPool } from '../../src/db/data-source';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import { BudgetService, type BudgetInput } from '../../src/modules/budgets/budget.service';
import { Ledger } from '../../src/modules/budgets/ledger';
import type { AbandonedRow, UsageRow } from '../../src/modules/budgets/ledger.types';
import { ReservationService, type ReservationPolicy } from '../../src/modules/budgets/reservation.service';
import { LocalEventBus } from '../../src/modules/events/event-bus';
import { AuthService } from '../../src/modules/projects/auth.service';
import { ProjectService } from '../../src/modules/projects/project.service';
import { formatUsd, type Pico } from '../../src/shared/money';
import { createTestDatabase } from './database';

/**
 * The in-process tier: services on a migrated database of their own (a copy of the migrated
 * template on Postgres, embedded PGlite otherwise), with no HTTP server. For what is tested best
 * below the API: the ledger's SQL functions, reservations, sweeps, batches.
 */
export class InProcess {
  readonly budgets: BudgetService;
  readonly projects: ProjectService;
  private constructor(
    readonly db: DataSource,
    readonly pool: Pool,
    readonly ledger: Ledger,
    readonly reservations: ReservationService,
    private readonly cleanup: () => Promise<void>,
  ) {
    this.budgets = new BudgetService(db);
    this.projects = new ProjectService(db, new AuthService(db, undefined), new LocalEventBus());
  }

  static async start(
    options: Partial<ReservationPolicy> & { ledgerTimeoutMs?: number } = {},
  ): Promise<InProcess> {
    const database = await createTestDatabase();
    let embedded: EmbeddedDatabase | undefined;
    let dataDir: string | undefined;
    let url = database.url;
    if (!url) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-inproc-'));
      embedded = await startEmbeddedDatabase(path.join(dataDir, 'pgdata'), 1);
      url = embedded.url;
    }
    const pool = createPool(url, embedded ? 1 : 3);
    const db = createDataSource(url, embedded ? 1 : 4, embedded ? pool : undefined);
    await db.initialize();
    await migrate(db, false);
    const ledger = new Ledger(pool, options.ledgerTimeoutMs ?? 30_000);
    const reservations = new ReservationService(db, ledger, {
      ttlMs: options.ttlMs ?? 60_000,
      chargeAbandoned: options.chargeAbandoned ?? true,
    });
    return new InProcess(db, pool, ledger, reservations, async () => {
      await reservations.close();
      await db.destroy();
      if (!embedded) await pool.end();
      await embedded?.stop();
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
      await database.drop();
    });
  }

  get embedded(): boolean {
    return !process.env.DATABASE_URL;
  }

  async close(): Promise<void> {
    await this.cleanup();
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
    ...abandonedRow(tenant, requestId, tokens),
    cost: formatUsd(cost),
    outcome: 'SUCCESS',
    error_code: null,
  };
}

/** What a reservation keeps to write if its call is abandoned. */
export function abandonedRow(
  tenant: { projectId: string; keyId: string },
  requestId: string,
  tokens = { prompt: 100, completion: 50 },
): AbandonedRow {
  return {
    project_id: tenant.projectId,
    api_key_id: tenant.keyId,
    request_id: requestId,
    kind: 'CHAT',
    model_requested: 'deepseek-chat',
    model_served: 'deepseek-chat',
    provider: 'upstream',
    route_tier: null,
    prompt_tokens: tokens.prompt,
    completion_tokens: tokens.completion,
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
    fallbacks: [],
    downgraded: false,
  };
}

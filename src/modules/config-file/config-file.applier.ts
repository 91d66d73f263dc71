import { isDeepStrictEqual } from 'node:util';
import { IsNull, type DataSource } from 'typeorm';
import { DomainError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { WebhookEndpoint } from '../alerts/webhook-endpoint.entity';
import { checkWebhookSecret, type WebhookService } from '../alerts/webhook.service';
import { Budget, DEFAULT_THRESHOLDS } from '../budgets/budget.entity';
import { checkBudget, type BudgetInput, type BudgetService } from '../budgets/budget.service';
import { ApiKey } from '../projects/api-key.entity';
import { givenKey } from '../projects/auth.service';
import { Project } from '../projects/project.entity';
import type { ProjectService } from '../projects/project.service';
import {
  checkModelInput,
  type CatalogService,
  type ModelInput,
  type ProviderInput,
} from '../providers/catalog.service';
import { Model } from '../providers/model.entity';
import { Provider } from '../providers/provider.entity';
import { ConfigFileError, type LoadedConfigFile, type Problem } from './config-file.loader';
import { emptyReport, logReport, type ConfigFileReport } from './config-file.report';
import type { ProjectEntry } from './config-file.schema';
import { findUnlisted, nothingListed, type Listed } from './config-file.unlisted';

export type { ConfigFileReport, GeneratedSecret } from './config-file.report';

export interface ConfigFileServices {
  projects: ProjectService;
  catalog: CatalogService;
  budgets: BudgetService;
  webhooks: WebhookService;
}

export interface ApplyOptions {
  /** Delete what the file owned and no longer lists (TOLLGATE_CONFIG_PRUNE, else the file's `prune`). */
  prune: boolean;
  /** On a shared Postgres, instances starting together take turns (an advisory lock). */
  shared: boolean;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

const APPLY_LOCK = 7411006; // 7411003 is the rollup fold's

/**
 * Makes the database hold what the file declares, through the services the API uses (so every
 * value passes the same checks), writing only what differs: a second start with the same file
 * changes nothing. A problem, placed at its line, stops the start (ConfigFileError); what can be
 * checked before writing (the file itself, the operator's policy, the environment's secrets) is.
 */
export async function applyConfigFile(
  db: DataSource,
  services: ConfigFileServices,
  loaded: LoadedConfigFile,
  options: ApplyOptions,
): Promise<ConfigFileReport> {
  const applier = new ConfigApplier(db, services, loaded, options.env ?? process.env);
  const run = async () => {
    applier.preflight();
    try {
      await applier.apply();
    } catch (error) {
      if (error instanceof ConfigFileError) {
        const { created, updated, secrets } = applier.report;
        error.applied = { created, updated, secrets };
      }
      throw error;
    }
    await findUnlisted(
      db,
      services,
      { owner: loaded.owner, listed: applier.listed, prune: options.prune },
      applier.report,
    );
    return applier.report;
  };
  const report = options.shared ? await withLock(db, run) : await run();
  logReport(options.log, report, options.prune);
  return report;
}

class ConfigApplier {
  readonly report: ConfigFileReport;
  private readonly owner: string;
  readonly listed: Listed = nothingListed();
  /** The environment's secrets the file names, read once by the preflight. */
  private readonly envSecrets = new Map<string, string>();

  constructor(
    private readonly db: DataSource,
    private readonly services: ConfigFileServices,
    private readonly loaded: LoadedConfigFile,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.owner = loaded.owner;
    this.report = emptyReport(loaded.file, loaded.owner);
  }

  /** What can fail without the database, checked before anything is written: policy and secrets. */
  preflight(): void {
    const problems: Problem[] = [];
    const check = (at: PropertyKey[], fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        problems.push(this.problemOf(at, error));
      }
    };
    this.loaded.content.projects.forEach((project, i) => {
      project.providers.forEach((provider, j) =>
        check(['projects', i, 'providers', j], () =>
          this.services.catalog.checkProvider(providerInput(provider)),
        ),
      );
      project.apiKeys.forEach((key, j) => {
        if (key.secret === undefined) return;
        check(['projects', i, 'apiKeys', j, 'secret'], () => givenKey(this.readSecret(key.secret!)));
      });
      project.webhooks.forEach((webhook, j) => {
        check(['projects', i, 'webhooks', j, 'url'], () => this.services.webhooks.checkUrl(webhook.url));
        if (webhook.secret !== undefined) {
          check(['projects', i, 'webhooks', j, 'secret'], () =>
            checkWebhookSecret(this.readSecret(webhook.secret!)),
          );
        }
      });
    });
    if (problems.length > 0) throw new ConfigFileError(this.loaded.file, problems);
  }

  async apply(): Promise<void> {
    for (const [i, entry] of this.loaded.content.projects.entries()) {
      const at = ['projects', i];
      const project = await this.applyProject(entry, at);
      await this.applyProviders(project, entry, at);
      await this.applyModels(project, entry, at);
      const keys = await this.applyKeys(project, entry, at);
      await this.applyBudgets(project, entry, at, keys);
      await this.applyWebhooks(project, entry, at);
    }
  }

  private async applyProject(entry: ProjectEntry, at: PropertyKey[]): Promise<Project> {
    const repo = this.db.getRepository(Project);
    const what = `project ${entry.name}`;
    const [owned] = await repo.find({
      where: { name: entry.name, managedBy: this.owner },
      order: { createdAt: 'ASC' },
    });
    if (owned) {
      this.listed.projects.add(owned.id);
      this.report.unchanged += 1;
      return owned;
    }
    // An API-made project of that name is taken over; two would be a guess.
    const unowned = await repo.find({ where: { name: entry.name, managedBy: IsNull() } });
    if (unowned.length > 1) {
      throw this.fail(
        [...at, 'name'],
        `${unowned.length} projects named "${entry.name}" exist and no file owns them: rename all but one`,
      );
    }
    const project = unowned[0]
      ? await this.services.projects.setProjectOwner(unowned[0].id, this.owner)
      : await this.services.projects.createManagedProject(entry.name, this.owner);
    (unowned[0] ? this.report.updated : this.report.created).push(what);
    this.listed.projects.add(project.id);
    return project;
  }

  private async applyProviders(project: Project, entry: ProjectEntry, at: PropertyKey[]): Promise<void> {
    const repo = this.db.getRepository(Provider);
    for (const [j, provider] of entry.providers.entries()) {
      const here = [...at, 'providers', j];
      const input = providerInput(provider);
      const existing = await repo.findOne({ where: { projectId: project.id, name: provider.name } });
      const what = `provider ${project.name}/${provider.name}`;
      if (!existing) {
        const created = await this.attempt(here, () =>
          this.services.catalog.createProvider(project.id, input, { owner: this.owner }),
        );
        this.created(what, this.listed.providers, created.id);
        continue;
      }
      this.listed.providers.add(existing.id);
      const wanted = this.services.catalog.checkProvider(input);
      const same =
        existing.managedBy === this.owner &&
        (Object.keys(wanted) as (keyof typeof wanted)[]).every((k) =>
          isDeepStrictEqual(existing[k], wanted[k]),
        );
      if (same) {
        this.report.unchanged += 1;
        continue;
      }
      await this.attempt(here, () =>
        this.services.catalog.updateProvider(project.id, input, { owner: this.owner }),
      );
      this.report.updated.push(what);
    }
  }

  private async applyModels(project: Project, entry: ProjectEntry, at: PropertyKey[]): Promise<void> {
    const repo = this.db.getRepository(Model);
    const providers = await this.db.getRepository(Provider).find({ where: { projectId: project.id } });
    for (const [j, model] of entry.models.entries()) {
      const here = [...at, 'models', j];
      const input: ModelInput = {
        name: model.name,
        provider: model.provider,
        // Absent in the file means the default, not "keep what the database has".
        upstreamName: model.upstreamName?.trim() || model.name,
        promptPrice: model.promptPrice,
        completionPrice: model.completionPrice,
        cachedPromptPrice: model.cachedPromptPrice ?? null,
        cacheWritePrice: model.cacheWritePrice ?? null,
        promptMargin: model.promptMargin ?? null,
        tiers: model.tiers,
        enabled: model.enabled,
      };
      const existing = await repo.findOne({ where: { projectId: project.id, name: model.name } });
      const what = `model ${project.name}/${model.name}`;
      if (existing) {
        this.listed.models.add(existing.id);
        const wanted = {
          ...checkModelInput(input),
          providerId: providers.find((p) => p.name === model.provider)?.id,
          upstreamName: input.upstreamName,
          enabled: input.enabled,
          managedBy: this.owner,
        };
        const keys = Object.keys(wanted) as (keyof typeof wanted)[];
        if (keys.every((k) => isDeepStrictEqual(existing[k], wanted[k]))) {
          this.report.unchanged += 1;
          continue;
        }
      }
      const saved = await this.attempt(here, () =>
        this.services.catalog.upsertModel(project.id, input, { owner: this.owner }),
      );
      if (existing) this.report.updated.push(what);
      else this.created(what, this.listed.models, saved.id);
    }
  }

  /** Returns each listed key's id by name, for the budgets that limit one. */
  private async applyKeys(
    project: Project,
    entry: ProjectEntry,
    at: PropertyKey[],
  ): Promise<Map<string, string>> {
    const repo = this.db.getRepository(ApiKey);
    const ids = new Map<string, string>();
    for (const [j, key] of entry.apiKeys.entries()) {
      const here = [...at, 'apiKeys', j];
      const secret = key.secret === undefined ? undefined : this.envSecrets.get(key.secret);
      const limits = { rpmLimit: key.rpmLimit ?? null, tpmLimit: key.tpmLimit ?? null };
      const live = await repo.find({
        where: { projectId: project.id, name: key.name, revokedAt: IsNull() },
        order: { createdAt: 'ASC' },
      });
      // This file's key, else an API-made one (taken over); another file's is refused by the service.
      const existing =
        live.find((k) => k.managedBy === this.owner) ?? live.find((k) => k.managedBy === null) ?? live[0];
      const what = `API key ${project.name}/${key.name}`;
      if (!existing) {
        const created = await this.attempt(here, () =>
          this.services.projects.createApiKey(project.id, key.name, key.role, limits, {
            owner: this.owner,
            secret,
          }),
        );
        this.created(what, this.listed.keys, created.apiKey.id);
        if (secret === undefined) {
          this.report.secrets.push({
            project: project.name,
            kind: 'API key',
            name: key.name,
            secret: created.plaintext,
          });
        }
        ids.set(key.name, created.apiKey.id);
        continue;
      }
      this.listed.keys.add(existing.id);
      ids.set(key.name, existing.id);
      const same =
        existing.managedBy === this.owner &&
        existing.role === key.role &&
        existing.rpmLimit === limits.rpmLimit &&
        existing.tpmLimit === limits.tpmLimit &&
        (secret === undefined || givenKey(secret).hash === existing.keyHash);
      if (same) {
        this.report.unchanged += 1;
        continue;
      }
      await this.attempt(here, () =>
        this.services.projects.updateApiKey(
          project.id,
          existing.id,
          { role: key.role, ...limits, secret },
          { owner: this.owner },
        ),
      );
      this.report.updated.push(what);
    }
    return ids;
  }

  private async applyBudgets(
    project: Project,
    entry: ProjectEntry,
    at: PropertyKey[],
    keys: Map<string, string>,
  ): Promise<void> {
    const repo = this.db.getRepository(Budget);
    for (const [j, budget] of entry.budgets.entries()) {
      const here = [...at, 'budgets', j];
      const apiKeyId = budget.apiKey === undefined ? null : (keys.get(budget.apiKey) ?? null);
      // Absent in the file means the default, not "keep what the database has".
      const input: BudgetInput = {
        apiKeyId,
        period: budget.period,
        limitUsd: budget.limitUsd,
        timeZone: budget.timeZone ?? 'UTC',
        thresholds: budget.thresholds ?? DEFAULT_THRESHOLDS,
        policy: budget.policy ?? 'REJECT',
      };
      const options = { owner: this.owner, configKey: budget.name };
      const what = `budget ${project.name}/${budget.name}`;
      const existing =
        (await repo.findOne({
          where: { projectId: project.id, managedBy: this.owner, configKey: budget.name },
        })) ??
        // An API-made budget of the same scope and period is taken over.
        (
          await repo.find({
            where: {
              projectId: project.id,
              managedBy: IsNull(),
              apiKeyId: apiKeyId ?? IsNull(),
              period: budget.period,
            },
            order: { createdAt: 'ASC' },
          })
        ).find((b) => !this.listed.budgets.has(b.id));
      if (!existing) {
        const created = await this.attempt(here, () =>
          this.services.budgets.create(project.id, input, options),
        );
        this.created(what, this.listed.budgets, created.id);
        continue;
      }
      if (existing.apiKeyId !== apiKeyId) {
        // A budget's scope is what it counts: another scope is another budget.
        await this.attempt(here, () => this.services.budgets.delete(project.id, existing.id, options));
        const created = await this.attempt(here, () =>
          this.services.budgets.create(project.id, input, options),
        );
        this.listed.budgets.add(created.id);
        this.report.updated.push(`${what} (its key changed: made anew)`);
        continue;
      }
      this.listed.budgets.add(existing.id);
      const wanted = { ...checkBudget(input), managedBy: this.owner, configKey: budget.name };
      const fields = Object.keys(wanted) as (keyof typeof wanted)[];
      if (fields.every((k) => isDeepStrictEqual(existing[k], wanted[k]))) {
        this.report.unchanged += 1;
        continue;
      }
      await this.attempt(here, () => this.services.budgets.update(project.id, existing.id, input, options));
      this.report.updated.push(what);
    }
  }

  private async applyWebhooks(project: Project, entry: ProjectEntry, at: PropertyKey[]): Promise<void> {
    const repo = this.db.getRepository(WebhookEndpoint);
    for (const [j, webhook] of entry.webhooks.entries()) {
      const here = [...at, 'webhooks', j];
      const secret = webhook.secret === undefined ? undefined : this.envSecrets.get(webhook.secret);
      const url = this.services.webhooks.checkUrl(webhook.url);
      const options = { owner: this.owner, configKey: webhook.name, secret };
      const what = `webhook ${project.name}/${webhook.name}`;
      const existing =
        (await repo.findOne({
          where: { projectId: project.id, managedBy: this.owner, configKey: webhook.name },
        })) ??
        // An API-made endpoint of the same URL is taken over.
        (
          await repo.find({
            where: { projectId: project.id, managedBy: IsNull(), url },
            order: { createdAt: 'ASC' },
          })
        ).find((e) => !this.listed.webhooks.has(e.id));
      if (!existing) {
        const created = await this.attempt(here, async () => {
          const added = await this.services.webhooks.add(project.id, url, webhook.format, options);
          if (!webhook.enabled)
            await this.services.webhooks.setEnabled(project.id, added.endpoint.id, false, options);
          return added;
        });
        this.created(what, this.listed.webhooks, created.endpoint.id);
        if (secret === undefined) {
          this.report.secrets.push({
            project: project.name,
            kind: 'webhook secret',
            name: webhook.name,
            secret: created.secret,
          });
        }
        continue;
      }
      this.listed.webhooks.add(existing.id);
      const same =
        existing.managedBy === this.owner &&
        existing.configKey === webhook.name &&
        existing.url === url &&
        existing.format === webhook.format &&
        existing.enabled === webhook.enabled &&
        (secret === undefined || this.services.webhooks.openSecret(existing) === secret);
      if (same) {
        this.report.unchanged += 1;
        continue;
      }
      await this.attempt(here, () =>
        this.services.webhooks.update(
          project.id,
          existing.id,
          { url, format: webhook.format, enabled: webhook.enabled, secret },
          options,
        ),
      );
      this.report.updated.push(what);
    }
  }

  private created(what: string, listed: Set<string>, id: string): void {
    this.report.created.push(what);
    listed.add(id);
  }

  /** The value of a secret's variable; unset or empty is a problem of the file's. */
  private readSecret(variable: string): string {
    const value = this.env[variable];
    if (value === undefined || value === '') {
      throw new DomainError('BAD_USER_INPUT', `the environment variable ${variable} is not set`);
    }
    this.envSecrets.set(variable, value);
    return value;
  }

  /** Runs a service call for the entry at `at`; a domain error becomes a problem at its line. */
  private async attempt<T>(at: PropertyKey[], fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new ConfigFileError(this.loaded.file, [this.problemOf(at, error)]);
    }
  }

  private fail(at: PropertyKey[], message: string): ConfigFileError {
    return new ConfigFileError(this.loaded.file, [this.loaded.problemAt(at, message)]);
  }

  /** A domain error as a problem at its entry, or at the field it names; anything else is rethrown. */
  private problemOf(at: PropertyKey[], error: unknown): Problem {
    if (!(error instanceof DomainError)) throw error;
    const field = error.details.field;
    const path = typeof field === 'string' && at[at.length - 1] !== field ? [...at, field] : at;
    return this.loaded.problemAt(path, error.message);
  }
}

/** The file's entry as the API's createProvider input. */
function providerInput(provider: ProjectEntry['providers'][number]): ProviderInput {
  return {
    name: provider.name,
    kind: provider.kind,
    baseUrl: provider.baseUrl ?? null,
    upstreamKeys: provider.upstreamKeys ?? [],
    requestsPerMinute: provider.requestsPerMinute,
    maxConcurrency: provider.maxConcurrency,
    timeoutMs: provider.timeoutMs,
    simulation: provider.simulation ?? null,
  };
}

async function withLock<T>(db: DataSource, fn: () => Promise<T>): Promise<T> {
  const runner = db.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [APPLY_LOCK]);
    return await fn();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [APPLY_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

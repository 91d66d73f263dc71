import { IsNull, type DataSource } from 'typeorm';
import { DomainError } from '../../shared/errors';
import { WebhookEndpoint } from '../alerts/webhook-endpoint.entity';
import type { WebhookService } from '../alerts/webhook.service';
import { Budget } from '../budgets/budget.entity';
import type { BudgetService } from '../budgets/budget.service';
import { ApiKey } from '../projects/api-key.entity';
import { Project } from '../projects/project.entity';
import type { ProjectService } from '../projects/project.service';
import type { CatalogService } from '../providers/catalog.service';
import { Model } from '../providers/model.entity';
import { Provider } from '../providers/provider.entity';
import type { ConfigFileReport } from './config-file.report';

/** Ids of the rows a start matched to the file's entries, per kind. */
export interface Listed {
  projects: Set<string>;
  providers: Set<string>;
  models: Set<string>;
  keys: Set<string>;
  budgets: Set<string>;
  webhooks: Set<string>;
}

export function nothingListed(): Listed {
  return {
    projects: new Set(),
    providers: new Set(),
    models: new Set(),
    keys: new Set(),
    budgets: new Set(),
    webhooks: new Set(),
  };
}

/**
 * What the file owns and did not list this time, in every project: reported, and with `prune`
 * deleted through the services (models before their providers; keys revoked, never deleted: the
 * ledger names them). A project is never deleted (its ledger is history): it is given back to the
 * API. What a service refuses to delete (a provider API-made models still use) is kept, and said.
 */
export async function findUnlisted(
  db: DataSource,
  services: {
    projects: ProjectService;
    catalog: CatalogService;
    budgets: BudgetService;
    webhooks: WebhookService;
  },
  run: { owner: string; listed: Listed; prune: boolean },
  report: ConfigFileReport,
): Promise<void> {
  const { owner, listed } = run;
  const mine = { managedBy: owner };
  const as = { owner };
  const names = new Map((await db.getRepository(Project).find()).map((p) => [p.id, p.name] as const));
  const inProject = (projectId: string, name: string) => `${names.get(projectId) ?? projectId}/${name}`;
  const { catalog, budgets, webhooks, projects } = services;
  const steps: { what: string; remove: () => Promise<unknown> }[] = [];
  for (const m of await db.getRepository(Model).find({ where: mine })) {
    if (listed.models.has(m.id)) continue;
    steps.push({
      what: `model ${inProject(m.projectId, m.name)}`,
      remove: () => catalog.deleteModel(m.projectId, m.name, as),
    });
  }
  for (const p of await db.getRepository(Provider).find({ where: mine })) {
    if (listed.providers.has(p.id)) continue;
    steps.push({
      what: `provider ${inProject(p.projectId, p.name)}`,
      remove: () => catalog.deleteProvider(p.projectId, p.name, as),
    });
  }
  for (const b of await db.getRepository(Budget).find({ where: mine })) {
    if (listed.budgets.has(b.id)) continue;
    steps.push({
      what: `budget ${inProject(b.projectId, b.configKey ?? b.id)}`,
      remove: () => budgets.delete(b.projectId, b.id, as),
    });
  }
  for (const w of await db.getRepository(WebhookEndpoint).find({ where: mine })) {
    if (listed.webhooks.has(w.id)) continue;
    steps.push({
      what: `webhook ${inProject(w.projectId, w.configKey ?? w.url)}`,
      remove: () => webhooks.remove(w.projectId, w.id, as),
    });
  }
  for (const k of await db.getRepository(ApiKey).find({ where: { ...mine, revokedAt: IsNull() } })) {
    if (listed.keys.has(k.id)) continue;
    steps.push({
      what: `API key ${inProject(k.projectId, k.name)}`,
      remove: () => projects.revokeApiKey(k.projectId, k.id, as),
    });
  }
  for (const p of await db.getRepository(Project).find({ where: mine })) {
    if (listed.projects.has(p.id)) continue;
    steps.push({ what: `project ${p.name}`, remove: () => projects.setProjectOwner(p.id, null) });
  }
  for (const step of steps) {
    report.unlisted.push(step.what);
    if (!run.prune) continue;
    try {
      await step.remove();
      report.pruned.push(step.what);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      report.kept.push(`${step.what}: ${error.message}`);
    }
  }
}

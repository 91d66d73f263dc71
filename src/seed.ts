import type { DataSource } from 'typeorm';
import { Budget } from './modules/budgets/budget.entity';
import type { ProjectService } from './modules/projects/project.service';
import { Project } from './modules/projects/project.entity';
import type { CatalogService } from './modules/providers/catalog.service';
import type { Tier } from './modules/providers/model.entity';
import { parseUsd } from './shared/money';

interface ReferenceModel {
  name: string;
  /** The demo provider it is on: Claude on the simulator speaking Anthropic's Messages API. */
  provider: 'simulated' | 'simulated-anthropic';
  prompt: string;
  completion: string;
  /** Cache reads and writes, where the provider prices them apart. */
  cachedPrompt?: string;
  cacheWrite?: string;
  tiers: Tier[];
}

/**
 * The reference article's models and prices (USD per million tokens) and their router tiers, with
 * their providers' cache prices, and an embedding model (in no tier: never routed to).
 */
export const REFERENCE_MODELS: ReferenceModel[] = [
  {
    name: 'deepseek-chat',
    provider: 'simulated',
    prompt: '0.14',
    completion: '0.42',
    tiers: ['SIMPLE', 'MODERATE'],
  },
  {
    name: 'gemini-2.5-flash',
    provider: 'simulated',
    prompt: '0.10',
    completion: '2.50',
    cachedPrompt: '0.025',
    tiers: ['SIMPLE', 'MODERATE'],
  },
  {
    name: 'gpt-4.1',
    provider: 'simulated',
    prompt: '2.00',
    completion: '8.00',
    cachedPrompt: '0.50',
    tiers: ['COMPLEX'],
  },
  {
    name: 'claude-sonnet-4.5',
    provider: 'simulated-anthropic',
    prompt: '3.00',
    completion: '15.00',
    cachedPrompt: '0.30',
    cacheWrite: '3.75',
    tiers: ['COMPLEX'],
  },
  { name: 'text-embedding-3-small', provider: 'simulated', prompt: '0.02', completion: '0', tiers: [] },
];

export interface SeededDemo {
  projectId: string;
  adminKey: string;
}

/**
 * On an empty database: a demo project with the simulated providers (one speaking OpenAI's chat,
 * one Anthropic's Messages for Claude), the reference models,
 * and a daily ($5) and monthly ($50) project budget. Returns null when projects already exist.
 */
export async function seedDemo(
  db: DataSource,
  projects: ProjectService,
  catalog: CatalogService,
): Promise<SeededDemo | null> {
  if ((await db.getRepository(Project).count()) > 0) return null;
  const { project, adminKey } = await projects.createProject('demo');
  await catalog.createProvider(project.id, {
    name: 'simulated',
    kind: 'SIMULATED',
    simulation: { latencyMs: 20 },
  });
  // Claude on the simulator speaking Anthropic's Messages API: prompt caching shows offline.
  await catalog.createProvider(project.id, {
    name: 'simulated-anthropic',
    kind: 'SIMULATED',
    simulation: { latencyMs: 20, wire: 'ANTHROPIC' },
  });
  for (const m of REFERENCE_MODELS) {
    await catalog.upsertModel(project.id, {
      name: m.name,
      provider: m.provider,
      promptPrice: m.prompt,
      completionPrice: m.completion,
      cachedPromptPrice: m.cachedPrompt ?? null,
      cacheWritePrice: m.cacheWrite ?? null,
      tiers: m.tiers,
    });
  }
  const budgets = db.getRepository(Budget);
  await budgets.save([
    budgets.create({
      projectId: project.id,
      apiKeyId: null,
      period: 'DAILY',
      limitUsd: parseUsd('5'),
      thresholds: [0.5, 0.75, 0.9, 0.95],
    }),
    budgets.create({
      projectId: project.id,
      apiKeyId: null,
      period: 'MONTHLY',
      limitUsd: parseUsd('50'),
      thresholds: [0.5, 0.75, 0.9, 0.95],
    }),
  ]);
  return { projectId: project.id, adminKey: adminKey.plaintext };
}

import { countChatTokens } from '../../src/shared/tokenizer';
import type { TextMessage } from '../../src/shared/tokenizer';
import { parseUsd, type Pico } from '../../src/shared/money';
import { completionBody, sendJson, type FakeUpstream, type UpstreamHandler } from './fake-upstream';
import type { TestServer } from './harness';
import type { InProcess } from './in-process';

/** Either tier: the real server (over HTTP) or the in-process one (through executeOperation). */
type Tier = TestServer | InProcess;

/**
 * An upstream that bills every call at exactly its worst case: the gateway's own prompt count
 * and every allowed completion token. Each call then settles at what it reserved, so how many
 * calls a budget admits, and when each threshold is crossed, are exact.
 */
export const worstCaseReply: UpstreamHandler = (call, res) =>
  sendJson(
    res,
    200,
    completionBody(
      call.body.model,
      countChatTokens(call.body.messages as TextMessage[]),
      call.body.max_tokens ?? 0,
    ),
  );

/**
 * A provider at `baseUrl` with limits far above any test's load, and the four reference models
 * with no prompt margin: the upstreams these tests run count prompts exactly as our tokenizer does.
 */
export async function addBillingCatalog(t: Tier, adminKey: string, baseUrl: string): Promise<void> {
  await t.ok(
    `mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }`,
    {
      input: {
        name: 'upstream',
        kind: 'OPENAI_COMPATIBLE',
        baseUrl,
        upstreamKeys: ['sk-test-upstream'],
        requestsPerMinute: 1_000_000,
        maxConcurrency: 10_000,
      },
    },
    adminKey,
  );
  const models = [
    { name: 'deepseek-chat', promptPrice: '0.14', completionPrice: '0.42', tiers: ['SIMPLE', 'MODERATE'] },
    { name: 'gemini-2.5-flash', promptPrice: '0.10', completionPrice: '2.50', tiers: ['SIMPLE', 'MODERATE'] },
    { name: 'gpt-4.1', promptPrice: '2.00', completionPrice: '8.00', tiers: ['COMPLEX'] },
    { name: 'claude-sonnet-4.5', promptPrice: '3.00', completionPrice: '15.00', tiers: ['COMPLEX'] },
  ];
  for (const m of models) {
    await t.ok(
      `mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`,
      { input: { ...m, provider: 'upstream', promptMargin: 0 } },
      adminKey,
    );
  }
}

/** What the gateway would reserve for a call (its worst-case cost), read through estimateCost. */
export async function worstCaseOf(
  t: Tier,
  key: string,
  input: { model: string; messages: { role: string; content: string }[]; maxTokens: number },
): Promise<Pico> {
  const data = await t.ok<{ estimateCost: { worstCaseCost: string } }>(
    'query($input: EstimateCostInput!) { estimateCost(input: $input) { worstCaseCost } }',
    { input },
    key,
  );
  return parseUsd(data.estimateCost.worstCaseCost);
}

export interface Ledger {
  /** Summed over every period of the budget. */
  spent: Pico;
  reserved: Pico;
  requests: number;
  /** Sum of the project's usage records, and how many there are. */
  usageCost: Pico;
  usageRows: number;
  activeReservations: number;
}

/** A budget's counters next to the project's usage records, read straight from the database. */
export async function ledger(t: Tier, projectId: string, budgetId: string): Promise<Ledger> {
  const db = 'app' in t ? t.app.db : t.db;
  const [c] = (await db.query(
    `SELECT coalesce(sum(spent), 0)::text AS spent, coalesce(sum(reserved), 0)::text AS reserved,
            coalesce(sum(requests), 0)::int AS requests
       FROM budget_counters WHERE budget_id = $1`,
    [budgetId],
  )) as { spent: string; reserved: string; requests: number }[];
  const [u] = (await db.query(
    `SELECT coalesce(sum(cost), 0)::text AS cost, count(*)::int AS n FROM usage_records WHERE project_id = $1`,
    [projectId],
  )) as { cost: string; n: number }[];
  if (!c || !u) throw new Error('an aggregate query returned no row');
  return {
    spent: parseUsd(c.spent),
    reserved: parseUsd(c.reserved),
    requests: c.requests,
    usageCost: parseUsd(u.cost),
    usageRows: u.n,
    activeReservations: await t.count('reservations', `project_id = $1 AND status = 'ACTIVE'`, [projectId]),
  };
}

/** A project with a CLIENT key, and the billing catalog on `upstream`. */
export async function billingTenant(
  t: TestServer,
  upstream: FakeUpstream,
  name: string,
): Promise<{ projectId: string; admin: string; client: { id: string; key: string } }> {
  const { projectId, adminKey } = await t.createProject(name);
  const client = await t.createKey(adminKey, 'CLIENT');
  await addBillingCatalog(t, adminKey, upstream.baseUrl);
  return { projectId, admin: adminKey, client };
}

/** Alerts of a budget as "TYPE threshold xcount", and the spend each first fired at. */
export async function alertsOf(t: TestServer, budgetId: string): Promise<{ alert: string; spent: Pico }[]> {
  const rows = (await t.app.db.query(
    `SELECT type, threshold::float8 AS threshold, count(*)::int AS n, min(snapshot->>'spent') AS spent
       FROM alerts WHERE budget_id = $1 GROUP BY type, threshold ORDER BY type, threshold`,
    [budgetId],
  )) as { type: string; threshold: number | null; n: number; spent: string }[];
  return rows.map((r) => ({ alert: `${r.type} ${r.threshold ?? '-'} x${r.n}`, spent: parseUsd(r.spent) }));
}

/** If a UTC day ends within `marginMs`, waits it out, so a test's calls all land in one daily window. */
export async function clearOfMidnight(marginMs = 60_000): Promise<void> {
  const toMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (toMidnight < marginMs) await new Promise((r) => setTimeout(r, toMidnight + 1_000));
}

import { MODEL, TOLLGATE_UPSTREAM_KEY } from './fake-upstream';
import { OPERATOR_KEY } from './tollgate';

/** Sets up a benchmark project through the public GraphQL API, as an operator and admin would. */

export interface BenchProject {
  projectId: string;
  adminKey: string;
  clientKey: string;
  budgetIds: string[];
}

export type Gql = <T>(query: string, variables: Record<string, unknown>, key: string) => Promise<T>;

export function graphqlClient(url: string): Gql {
  return async <T>(query: string, variables: Record<string, unknown>, key: string): Promise<T> => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
    if (body.errors?.length || !body.data) {
      throw new Error(`GraphQL ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
    }
    return body.data;
  };
}

export const COMPLETION_QUERY = `mutation($input: ChatCompletionInput!) {
  createChatCompletion(input: $input) { id model content cost usage { promptTokens completionTokens totalTokens } }
}`;

/** The body every benchmarked completion sends: a short prompt, an explicit model, 64 tokens max. */
export const COMPLETION_BODY = JSON.stringify({
  query: COMPLETION_QUERY,
  variables: {
    input: {
      model: MODEL,
      maxTokens: 64,
      messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
    },
  },
});

/** The same call as OpenAI's wire format, for `POST /v1/chat/completions` (Tollgate's and the fake's). */
export const REST_COMPLETION_BODY = JSON.stringify({
  model: MODEL,
  max_tokens: 64,
  messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
});

export const BUDGET_LIMIT_USD = '1000000';

/** `budgets: false` (diagnostics only) leaves the project without budgets: no reservations at all. */
export async function setUpProject(gql: Gql, upstreamBaseUrl: string, budgets = true): Promise<BenchProject> {
  const { createProject } = await gql<{
    createProject: { project: { id: string }; adminKey: { key: string } };
  }>(
    `mutation($name: String!) { createProject(name: $name) { project { id } adminKey { key } } }`,
    { name: 'bench' },
    OPERATOR_KEY,
  );
  const adminKey = createProject.adminKey.key;
  const { createApiKey } = await gql<{ createApiKey: { key: string } }>(
    `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { key } }`,
    { input: { name: 'bench-client', role: 'CLIENT' } },
    adminKey,
  );
  await gql(
    `mutation($input: CreateProviderInput!) { createProvider(input: $input) { id } }`,
    {
      input: {
        name: 'bench-upstream',
        kind: 'OPENAI_COMPATIBLE',
        baseUrl: upstreamBaseUrl,
        upstreamKeys: [TOLLGATE_UPSTREAM_KEY],
        requestsPerMinute: 10_000_000,
        maxConcurrency: 256,
      },
    },
    adminKey,
  );
  await gql(
    `mutation($input: ModelInput!) { upsertModel(input: $input) { id } }`,
    {
      input: {
        name: MODEL,
        provider: 'bench-upstream',
        promptPrice: '0.14',
        completionPrice: '0.42',
        tiers: ['SIMPLE', 'MODERATE'],
      },
    },
    adminKey,
  );
  const budgetIds: string[] = [];
  for (const period of budgets ? ['DAILY', 'MONTHLY'] : []) {
    const { createBudget } = await gql<{ createBudget: { id: string } }>(
      `mutation($input: CreateBudgetInput!) { createBudget(input: $input) { id } }`,
      { input: { period, limitUsd: BUDGET_LIMIT_USD, policy: 'REJECT' } },
      adminKey,
    );
    budgetIds.push(createBudget.id);
  }
  return { projectId: createProject.project.id, adminKey, clientKey: createApiKey.key, budgetIds };
}

/** The GraphQL documents the console sends, and the shapes it reads back (schema/schema.graphql). */

export type Role = 'ADMIN' | 'CLIENT';
export type Period = 'DAILY' | 'MONTHLY';
export type Policy = 'REJECT' | 'DOWNGRADE';
export type Tier = 'SIMPLE' | 'MODERATE' | 'COMPLEX';
export type Severity = 'WARNING' | 'CRITICAL';

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  rpmLimit: number | null;
  tpmLimit: number | null;
  createdAt: string;
  revokedAt: string | null;
}

export interface Me {
  kind: string;
  project: { id: string; name: string } | null;
  apiKey: ApiKey | null;
}

export const ME = `query Me { me { kind project { id name } apiKey { id name prefix role rpmLimit tpmLimit createdAt revokedAt } } }`;

export interface Budget {
  id: string;
  apiKeyId: string | null;
  period: Period;
  limitUsd: string;
  policy: Policy;
  thresholds: number[];
  timeZone: string;
  createdAt: string;
}

const BUDGET_FIELDS = 'id apiKeyId period limitUsd policy thresholds timeZone createdAt';

export interface BudgetStatus {
  budget: Budget;
  periodStart: string;
  periodEnd: string;
  limit: string;
  spent: string;
  reserved: string;
  remaining: string;
  utilization: number;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  projection: {
    projectedSpend: string;
    ratePerDay: string;
    overrun: boolean;
    daysElapsed: number;
    daysInPeriod: number;
  };
}

const STATUS_FIELDS = `budget { ${BUDGET_FIELDS} } periodStart periodEnd limit spent reserved remaining utilization
  requests promptTokens completionTokens totalTokens
  projection { projectedSpend ratePerDay overrun daysElapsed daysInPeriod }`;

export interface Alert {
  id: string;
  type: string;
  severity: Severity;
  budgetId: string | null;
  threshold: number | null;
  utilization: number;
  message: string;
  periodStart: string | null;
  createdAt: string;
  /** A union by the alert's type; the console shows a budget alert's figures only (others carry none). */
  snapshot: { __typename: string; spent?: string; limit?: string; projected?: string } | null;
}

const ALERT_FIELDS =
  'id type severity budgetId threshold utilization message periodStart createdAt ' +
  'snapshot { __typename ... on BudgetAlertSnapshot { spent limit projected } }';

export const BUDGET_STATUS = `query BudgetStatus { budgetStatus { ${STATUS_FIELDS} } }`;
export const ALERTS = `query Alerts($days: Int!) { alerts(days: $days) { ${ALERT_FIELDS} } }`;
export const BUDGET_METRICS = `subscription BudgetMetrics { budgetMetrics { at budgets { ${STATUS_FIELDS} } } }`;
export const ALERT_FEED = `subscription AlertFeed { alerts { ${ALERT_FIELDS} } }`;

export interface UsageRecord {
  id: string;
  createdAt: string;
  modelRequested: string;
  modelServed: string;
  provider: string;
  routeTier: string | null;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: string;
  priced: boolean;
  gatewayLatencyMs: number;
  upstreamLatencyMs: number;
  attempts: number;
  outcome: string;
  errorCode: string | null;
  downgraded: boolean;
  fallbacks: string[];
  apiKey: { id: string; name: string; prefix: string } | null;
}

export const USAGE_RECORDS = `query Ledger($first: Int!, $after: String) {
  usageRecords(first: $first, after: $after) {
    nodes { id createdAt modelRequested modelServed provider routeTier promptTokens completionTokens totalTokens
      cost priced gatewayLatencyMs upstreamLatencyMs attempts outcome errorCode downgraded fallbacks
      apiKey { id name prefix } }
    pageInfo { endCursor hasNextPage }
  }
}`;

export interface UsageGroup {
  key: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cost: string;
}

export interface UsageReport {
  groups: UsageGroup[];
  total: UsageGroup;
}

const GROUP_FIELDS = 'key requests promptTokens completionTokens totalTokens cost';

export const USAGE_TABLES = `query UsageTables($model: UsageRangeInput!, $key: UsageRangeInput!, $route: UsageRangeInput!) {
  byModel: usage(input: $model) { groups { ${GROUP_FIELDS} } total { ${GROUP_FIELDS} } }
  byKey: usage(input: $key) { groups { ${GROUP_FIELDS} } total { ${GROUP_FIELDS} } }
  byRoute: usage(input: $route) { groups { ${GROUP_FIELDS} } total { ${GROUP_FIELDS} } }
}`;

/**
 * Spend per time bucket and model: the API groups by one dimension at a time, so each bucket is
 * one aliased `usage(groupBy: MODEL)` over its own [from, to) in a single request.
 */
export function usageSeriesQuery(buckets: number): string {
  const defs = Array.from({ length: buckets }, (_, i) => `$b${i}: UsageRangeInput!`).join(', ');
  const fields = Array.from(
    { length: buckets },
    (_, i) => `b${i}: usage(input: $b${i}) { groups { key cost requests } }`,
  ).join('\n');
  return `query UsageSeries(${defs}) {\n${fields}\n}`;
}

export interface RouteStats {
  key: string;
  tier: string;
  model: string;
  requests: number;
  failures: number;
  unpricedRequests: number;
  promptTokens: number;
  completionTokens: number;
  cost: string;
  costPerRequest: string;
  baselineCost: string;
  savings: string;
  averageLatencyMs: number;
  averageUpstreamLatencyMs: number;
}

export interface RoutingReport {
  baselineModel: string;
  requests: number;
  failures: number;
  unpricedRequests: number;
  cost: string;
  averageCostPerRequest: string;
  baselineCost: string;
  savings: string;
  savingsRatio: number;
  routes: RouteStats[];
}

export const ROUTING_REPORT = `query Routing($baseline: String!, $from: DateTimeISO!, $to: DateTimeISO!) {
  routingReport(baselineModel: $baseline, from: $from, to: $to) {
    baselineModel requests failures unpricedRequests cost averageCostPerRequest baselineCost savings savingsRatio
    routes { key tier model requests failures unpricedRequests promptTokens completionTokens cost costPerRequest
      baselineCost savings averageLatencyMs averageUpstreamLatencyMs }
  }
}`;

export interface Model {
  id: string;
  name: string;
  provider: string;
  upstreamName: string;
  promptPrice: string;
  completionPrice: string;
  tiers: Tier[];
  enabled: boolean;
  circuit: { state: string } | null;
}

export const MODELS = `query Models { models { id name provider upstreamName promptPrice completionPrice tiers enabled circuit { state } } }`;

export interface Circuit {
  provider: string;
  model: string;
  state: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
  consecutiveFailures: number;
  openedAt: string | null;
  retryAt: string | null;
}

export interface UpstreamKey {
  provider: string;
  index: number;
  source: string;
  active: number;
  queued: number;
  maxConcurrency: number;
  availableTokens: number;
  requestsPerMinute: number;
  failed: boolean;
  failedUntil: string | null;
  utilization: number;
}

export interface Provider {
  id: string;
  name: string;
  kind: string;
  baseUrl: string | null;
  keySources: string[];
  requestsPerMinute: number;
  maxConcurrency: number;
  timeoutMs: number;
  simulation: { latencyMs: number; chunkDelayMs: number; failureRate: number } | null;
  upstreamKeys: UpstreamKey[];
  circuits: Circuit[];
}

export interface RateStatus {
  rpmLimit: number | null;
  tpmLimit: number | null;
  availableRequests: number | null;
  availableTokens: number | null;
  utilization: number;
}

export interface LimiterStats {
  active: number;
  queued: number;
  distributed: boolean;
  project: RateStatus;
  gatewayKeys: (RateStatus & { apiKeyId: string; name: string; prefix: string })[];
  circuits: Circuit[];
}

const CIRCUIT_FIELDS = 'provider model state consecutiveFailures openedAt retryAt';
const RATE_FIELDS = 'rpmLimit tpmLimit availableRequests availableTokens utilization';

export const OPERATIONS = `query Operations {
  providers { id name kind baseUrl keySources requestsPerMinute maxConcurrency timeoutMs
    simulation { latencyMs chunkDelayMs failureRate }
    upstreamKeys { provider index source active queued maxConcurrency availableTokens requestsPerMinute failed failedUntil utilization }
    circuits { ${CIRCUIT_FIELDS} } }
  limiterStats { active queued distributed project { ${RATE_FIELDS} }
    gatewayKeys { apiKeyId name prefix ${RATE_FIELDS} } circuits { ${CIRCUIT_FIELDS} } }
}`;

export const API_KEYS = `query ApiKeys { apiKeys { id name prefix role rpmLimit tpmLimit createdAt revokedAt } }`;
export const CREATE_API_KEY = `mutation CreateApiKey($input: CreateApiKeyInput!) { createApiKey(input: $input) { key apiKey { id name prefix role } } }`;
export const REVOKE_API_KEY = `mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;

export const BUDGET_LIST = `query Budgets { budgetList { ${BUDGET_FIELDS} } }`;
export const CREATE_BUDGET = `mutation CreateBudget($input: CreateBudgetInput!) { createBudget(input: $input) { ${BUDGET_FIELDS} } }`;
export const UPDATE_BUDGET = `mutation UpdateBudget($id: ID!, $input: UpdateBudgetInput!) { updateBudget(id: $id, input: $input) { ${BUDGET_FIELDS} } }`;
export const DELETE_BUDGET = `mutation DeleteBudget($id: ID!) { deleteBudget(id: $id) }`;

export const PROVIDER_NAMES = `query ProviderNames { providers { name } }`;
export const UPSERT_MODEL = `mutation UpsertModel($input: ModelInput!) { upsertModel(input: $input) { id name } }`;
export const DELETE_MODEL = `mutation DeleteModel($name: String!) { deleteModel(name: $name) }`;

export interface WebhookEndpoint {
  id: string;
  url: string;
  format: 'JSON' | 'SLACK';
  enabled: boolean;
  createdAt: string;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string;
  alertId: string | null;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  nextAttemptAt: string;
}

export const WEBHOOKS = `query Webhooks {
  webhookEndpoints { id url format enabled createdAt }
  webhookDeliveries { id endpointId alertId status attempts lastStatusCode lastError createdAt deliveredAt nextAttemptAt }
}`;
export const ADD_WEBHOOK = `mutation AddWebhook($input: AddWebhookInput!) { addWebhookEndpoint(input: $input) { secret endpoint { id } } }`;
export const REMOVE_WEBHOOK = `mutation RemoveWebhook($id: ID!) { removeWebhookEndpoint(id: $id) }`;
export const SET_WEBHOOK_ENABLED = `mutation SetWebhookEnabled($id: ID!, $enabled: Boolean!) { setWebhookEndpointEnabled(id: $id, enabled: $enabled) { id enabled } }`;
export const TEST_WEBHOOK = `mutation TestWebhook($id: ID!) { testWebhook(id: $id) { id status } }`;

export interface Completion {
  id: string;
  requestId: string;
  model: string;
  content: string;
  finishReason: string;
  cost: string;
  priced: boolean;
  latencyMs: number;
  upstreamLatencyMs: number;
  attempts: number;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  routing: {
    tier: Tier | null;
    modelRequested: string;
    model: string;
    provider: string;
    fallbacks: string[];
    downgraded: boolean;
  };
}

export const COMPLETION_STREAM = `subscription Stream($input: ChatCompletionInput!) {
  chatCompletionStream(input: $input) {
    delta done
    completion { id requestId model content finishReason cost priced latencyMs upstreamLatencyMs attempts
      usage { promptTokens completionTokens totalTokens }
      routing { tier modelRequested model provider fallbacks downgraded } }
  }
}`;

export interface CostEstimate {
  model: string;
  tier: Tier | null;
  promptTokens: number;
  maxTokens: number;
  worstCaseCost: string;
}

export const ESTIMATE = `query Estimate($input: EstimateCostInput!) { estimateCost(input: $input) { model tier promptTokens maxTokens worstCaseCost } }`;

import { z } from 'zod';
import { BadInputError } from '../../shared/errors';
import { WebhookFormat } from '../alerts/webhook-endpoint.entity';
import { checkWebhookUrl } from '../alerts/webhook.service';
import { BudgetPeriod, BudgetPolicy } from '../budgets/budget.entity';
import { checkBudget } from '../budgets/budget.service';
import { ApiKeyRole } from '../projects/api-key.entity';
import { checkKeyLimits, checkName } from '../projects/project.service';
import { checkModelInput, checkProviderInput } from '../providers/catalog.service';
import { Tier } from '../providers/model.entity';
import { ProviderKind, SimulatedWire } from '../providers/provider.entity';
import { mergeRoutingRules, RulesInput } from '../routing/classifier';
import { parseFallbackChain } from '../routing/router.service';

/**
 * The configuration file (TOLLGATE_CONFIG): its shape here, and every value through the API's own
 * checks (checkName, checkProviderInput, checkModelInput, checkBudget, checkKeyLimits,
 * checkWebhookUrl), so a file is refused for exactly what the API refuses. What needs the operator's
 * policy or the database (egress, the env allowlist, names taken) is checked when it is applied,
 * through the same services the API calls.
 */

/** Runs one of the API's checks: its BadInputError becomes an issue at the field it names. */
function apiCheck<T>(check: (value: T) => unknown, options: { atField: boolean } = { atField: true }) {
  return (value: T, ctx: z.RefinementCtx<T>) => {
    try {
      check(value);
    } catch (error) {
      if (!(error instanceof BadInputError)) throw error;
      const field = error.details.field;
      ctx.addIssue({
        code: 'custom',
        message: error.message,
        path: options.atField && typeof field === 'string' ? [field] : [],
      });
    }
  };
}

const name = (max = 200) =>
  z
    .string()
    .superRefine(apiCheck((value: string) => checkName(value, 'a name', max), { atField: false }))
    .transform((value) => value.trim());

/** USD as the API takes it: a decimal string ("0.14"); a YAML number is read as its decimal text. */
const usd = z
  .union([z.string(), z.number()], { error: 'must be a decimal USD amount, e.g. "0.14"' })
  .transform((value) => (typeof value === 'number' ? String(value) : value));

const ENV_REF = /^env:[A-Za-z_][A-Za-z0-9_]*$/;

/** A secret the file does not hold: the name of the environment variable that does. */
const secretRef = z
  .string()
  .regex(ENV_REF, 'must be env:NAME (the secret is read from that environment variable)')
  .refine(
    (value) => !value.startsWith('env:TOLLGATE_'),
    "TOLLGATE_ variables are Tollgate's own settings (an unknown one stops the start): use another name",
  )
  .transform((value) => value.slice(4));

const count = z.int('must be a whole number');

const ProviderSchema = z
  .strictObject({
    name: name(100),
    kind: z.enum(ProviderKind),
    baseUrl: z.string().optional(),
    upstreamKeys: z
      .array(
        z
          .string()
          .regex(
            ENV_REF,
            'must be env:NAME: a configuration file names the variables that hold upstream keys, never a key',
          ),
      )
      .optional(),
    requestsPerMinute: count.optional(),
    maxConcurrency: count.optional(),
    timeoutMs: count.optional(),
    simulation: z
      .strictObject({
        latencyMs: z.number().optional(),
        failureRate: z.number().optional(),
        chunkDelayMs: z.number().optional(),
        wire: z.enum(SimulatedWire).optional(),
      })
      .optional(),
  })
  .superRefine(apiCheck(checkProviderInput))
  .superRefine((provider, ctx) => {
    if (provider.kind !== 'SIMULATED' && provider.simulation) {
      ctx.addIssue({
        code: 'custom',
        message: 'only a SIMULATED provider has simulation settings',
        path: ['simulation'],
      });
    }
    if (provider.kind === 'SIMULATED' && provider.baseUrl !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'a SIMULATED provider has no baseUrl', path: ['baseUrl'] });
    }
  });

const ModelSchema = z
  .strictObject({
    name: name(),
    /** A provider of the same project in the file. */
    provider: z.string(),
    upstreamName: z.string().optional(),
    promptPrice: usd,
    completionPrice: usd,
    cachedPromptPrice: usd.optional(),
    cacheWritePrice: usd.optional(),
    promptMargin: z.number().optional(),
    tiers: z.array(z.enum(Tier)).default([]),
    enabled: z.boolean().default(true),
  })
  .superRefine(apiCheck(checkModelInput));

const BudgetSchema = z
  .strictObject({
    /** The budget's name in the file: what identifies it from one start to the next. */
    name: name(),
    period: z.enum(BudgetPeriod),
    limitUsd: usd,
    timeZone: z.string().optional(),
    thresholds: z.array(z.number()).optional(),
    policy: z.enum(BudgetPolicy).optional(),
    /** A key of the same project in the file; absent: the whole project. */
    apiKey: z.string().optional(),
  })
  .superRefine(apiCheck(checkBudget));

const ApiKeySchema = z
  .strictObject({
    name: name(),
    role: z.enum(ApiKeyRole).default('CLIENT'),
    /** env:NAME: the key is that variable's value; absent: generated and printed once. */
    secret: secretRef.optional(),
    rpmLimit: count.optional(),
    tpmLimit: count.optional(),
  })
  .superRefine(apiCheck(checkKeyLimits));

const WebhookSchema = z.strictObject({
  /** The endpoint's name in the file: what identifies it from one start to the next. */
  name: name(),
  url: z.string().superRefine(apiCheck(checkWebhookUrl, { atField: false })),
  format: z.enum(WebhookFormat).default('JSON'),
  enabled: z.boolean().default(true),
  /** env:NAME: the signing secret is that variable's value; absent: generated and printed once. */
  secret: secretRef.optional(),
});

const ProjectSchema = z
  .strictObject({
    name: name(),
    providers: z.array(ProviderSchema).default([]),
    models: z.array(ModelSchema).default([]),
    budgets: z.array(BudgetSchema).default([]),
    apiKeys: z.array(ApiKeySchema).default([]),
    webhooks: z.array(WebhookSchema).default([]),
  })
  .superRefine((project, ctx) => {
    for (const list of ['providers', 'models', 'budgets', 'apiKeys', 'webhooks'] as const) {
      unique(project[list], [list], ctx);
    }
    const providers = project.providers.map((p) => p.name);
    project.models.forEach((model, i) => {
      if (!providers.includes(model.provider)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'provider'],
          message: `"${model.provider}" is not a provider of this project in the file (${listed(providers)})`,
        });
      }
    });
    const keys = project.apiKeys.map((k) => k.name);
    project.budgets.forEach((budget, i) => {
      if (budget.apiKey !== undefined && !keys.includes(budget.apiKey)) {
        ctx.addIssue({
          code: 'custom',
          path: ['budgets', i, 'apiKey'],
          message: `"${budget.apiKey}" is not an API key of this project in the file (${listed(keys)})`,
        });
      }
    });
  });

/** One fallback step a line: `tier`, `cheaper` or `model:NAME` (an empty list: no fallback). */
const FallbackStepSchema = z.string().transform((raw, ctx) => {
  try {
    const [step, ...more] = parseFallbackChain(raw);
    if (step && more.length === 0) return step;
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    return z.NEVER;
  }
  ctx.addIssue({
    code: 'custom',
    message: 'one step per item: tier, cheaper or model:NAME (an empty list: no fallback)',
  });
  return z.NEVER;
});

const RoutingRulesSchema = RulesInput.transform((given, ctx) => {
  try {
    return mergeRoutingRules(given);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
    return z.NEVER;
  }
});

export const ConfigFileSchema = z
  .strictObject({
    version: z.literal(1, 'must be 1 (the version of this file format)'),
    /** What the file's objects carry in `managedBy`; absent: the file's name. */
    managedBy: name().optional(),
    /** Delete (revoke, for keys) what the file owned and no longer lists; TOLLGATE_CONFIG_PRUNE wins when set. */
    prune: z.boolean().default(false),
    /** Process-wide routing: refused when TOLLGATE_ROUTING_RULES / TOLLGATE_FALLBACK_CHAIN is set too. */
    routing: z
      .strictObject({
        /** Merged over the reference's thresholds, as TOLLGATE_ROUTING_RULES is. */
        rules: RoutingRulesSchema.optional(),
        fallbackChain: z.array(FallbackStepSchema).optional(),
      })
      .optional(),
    projects: z.array(ProjectSchema).default([]),
  })
  .superRefine((file, ctx) => unique(file.projects, ['projects'], ctx));

export type ConfigFile = z.output<typeof ConfigFileSchema>;
export type ProjectEntry = ConfigFile['projects'][number];

/** A second entry of a list with a name already used is an issue at its name. */
function unique(items: readonly { name: string }[], path: (string | number)[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.name)) {
      ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `"${item.name}" is listed twice` });
    }
    seen.add(item.name);
  });
}

function listed(names: string[]): string {
  return names.length === 0 ? 'it has none' : `it has ${names.map((n) => `"${n}"`).join(', ')}`;
}

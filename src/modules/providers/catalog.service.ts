import { LRUCache } from 'lru-cache';
import type { DataSource } from 'typeorm';
import { BadInputError, NotFoundError } from '../../shared/errors';
import { assertOwner, type ChangeOptions } from '../../shared/managed';
import { formatUsd, isValidPrice, parseUsd, type Pico } from '../../shared/money';
import type { EgressPolicy } from '../../shared/egress';
import type { EnvAllowlist } from '../../shared/env-allowlist';
import type { SecretBox } from '../../shared/secret-box';
import { checkName } from '../projects/project.service';
import { Model, TIERS, type Tier } from './model.entity';
import { Provider, ProviderKind, type SimulationSettings, type UpstreamKeyRef } from './provider.entity';

export interface ProviderInput {
  name: string;
  kind: ProviderKind;
  baseUrl?: string | null;
  /** Each either `env:NAME` (read from the environment at call time) or a literal key, sealed at rest. */
  upstreamKeys?: string[];
  requestsPerMinute?: number;
  maxConcurrency?: number;
  timeoutMs?: number;
  simulation?: Partial<SimulationSettings> | null;
}

export interface ModelInput {
  name: string;
  provider: string;
  upstreamName?: string | null;
  promptPrice: string;
  completionPrice: string;
  cachedPromptPrice?: string | null;
  cacheWritePrice?: string | null;
  /** Margin on the prompt estimate (0.35 = 35%); null or absent: the family's default. */
  promptMargin?: number | null;
  tiers?: Tier[];
  enabled?: boolean;
}

/** A project's providers and models, as the request path reads them (cached). */
export interface Catalog {
  providers: Map<string, Provider>;
  models: Map<string, Model>;
}

/** Far above any real price, and well inside the NUMERIC(18,6) column. */
const MAX_PRICE = parseUsd('100000');

export const DEFAULT_SIMULATION: SimulationSettings = {
  latencyMs: 0,
  failureRate: 0,
  chunkDelayMs: 0,
  wire: 'OPENAI',
};
const CACHE_TTL_MS = 5_000;

export class CatalogService {
  /** Per project, briefly; evicted at once on a change made here. */
  private readonly cache = new LRUCache<string, { catalog: Promise<Catalog> }>({
    max: 10_000,
    ttl: CACHE_TTL_MS,
  });
  /** Sealed keys, opened (AES-GCM per request shows in profiles). */
  private readonly opened = new LRUCache<string, string>({ max: 10_000 });

  constructor(
    private readonly db: DataSource,
    private readonly secrets: SecretBox,
    /** The operator's decisions: which env variables keys may name, where base URLs may point. */
    private readonly policy: { envKeys: EnvAllowlist; egress: EgressPolicy },
  ) {}

  /** The project's catalog; cached for a few seconds, evicted at once on a change made here. */
  catalog(projectId: string): Promise<Catalog> {
    const hit = this.cache.get(projectId);
    if (hit) return hit.catalog;
    const catalog = this.load(projectId);
    this.cache.set(projectId, { catalog });
    catalog.catch(() => this.cache.delete(projectId));
    return catalog;
  }

  async listProviders(projectId: string): Promise<Provider[]> {
    return [...(await this.catalog(projectId)).providers.values()];
  }

  async createProvider(
    projectId: string,
    input: ProviderInput,
    options: ChangeOptions = {},
  ): Promise<Provider> {
    const repo = this.db.getRepository(Provider);
    const name = checkName(input.name, 'name', 100);
    if (await repo.exists({ where: { projectId, name } })) {
      throw new BadInputError(`A provider named "${name}" already exists`, 'name');
    }
    const provider = await repo.save(
      repo.create({ projectId, ...this.checkProvider(input), name, managedBy: options.owner ?? null }),
    );
    this.cache.delete(projectId);
    return provider;
  }

  /** Replaces a provider's settings (a configuration file's edit; the API has no such mutation). */
  async updateProvider(
    projectId: string,
    input: ProviderInput,
    options: ChangeOptions = {},
  ): Promise<Provider> {
    const repo = this.db.getRepository(Provider);
    const name = checkName(input.name, 'name', 100);
    const provider = await repo.findOne({ where: { projectId, name } });
    if (!provider) throw new NotFoundError('Provider');
    assertOwner(`Provider "${name}"`, provider.managedBy, options);
    const saved = await repo.save({
      ...provider,
      ...this.checkProvider(input),
      managedBy: options.owner ?? null,
    });
    this.cache.delete(projectId);
    return saved;
  }

  /** Deletes a provider that no model uses any more (deleting it would delete them). */
  async deleteProvider(projectId: string, name: string, options: ChangeOptions = {}): Promise<boolean> {
    const repo = this.db.getRepository(Provider);
    const provider = await repo.findOne({ where: { projectId, name } });
    if (!provider) throw new NotFoundError('Provider');
    assertOwner(`Provider "${name}"`, provider.managedBy, options);
    const models = await this.db.getRepository(Model).find({ where: { providerId: provider.id } });
    if (models.length > 0) {
      throw new BadInputError(
        `Provider "${name}" still has models (${models.map((m) => m.name).join(', ')}): delete them first`,
        'name',
      );
    }
    await repo.delete({ id: provider.id });
    this.cache.delete(projectId);
    return true;
  }

  async upsertModel(projectId: string, input: ModelInput, options: ChangeOptions = {}): Promise<Model> {
    const checked = checkModelInput(input);
    const provider = await this.db
      .getRepository(Provider)
      .findOne({ where: { projectId, name: input.provider } });
    if (!provider) throw new BadInputError(`Unknown provider "${input.provider}"`, 'provider');
    const repo = this.db.getRepository(Model);
    const existing = await repo.findOne({ where: { projectId, name: checked.name } });
    if (existing) assertOwner(`Model "${existing.name}"`, existing.managedBy, options);
    const model = await repo.save({
      ...(existing ?? repo.create({ projectId, name: checked.name })),
      ...checked,
      providerId: provider.id,
      upstreamName: input.upstreamName?.trim() || existing?.upstreamName || checked.name,
      enabled: input.enabled ?? existing?.enabled ?? true,
      managedBy: options.owner ?? null,
    });
    this.cache.delete(projectId);
    return model;
  }

  async deleteModel(projectId: string, name: string, options: ChangeOptions = {}): Promise<boolean> {
    const repo = this.db.getRepository(Model);
    const model = await repo.findOne({ where: { projectId, name } });
    if (!model) throw new NotFoundError('Model');
    assertOwner(`Model "${name}"`, model.managedBy, options);
    await repo.delete({ id: model.id });
    this.cache.delete(projectId);
    return true;
  }

  /**
   * The plaintext of each upstream key slot, in rotation order; null where there is none to use: an
   * unset variable, or one the operator does not allow (a row stored before the allowlist, or
   * since narrowed). Never leaves the server.
   */
  upstreamKeys(provider: Provider): (string | null)[] {
    return provider.upstreamKeys.map((ref) => {
      const key = 'env' in ref ? this.envKey(ref.env) : this.open(ref.encrypted);
      return key !== undefined && key.length > 0 ? key : null;
    });
  }

  private envKey(name: string): string | undefined {
    return this.policy.envKeys.allows(name) ? process.env[name] : undefined;
  }

  /** Sealed keys are opened once per process, not on every call (AES-GCM per request shows in profiles). */
  private open(sealed: string): string {
    let key = this.opened.get(sealed);
    if (key === undefined) {
      key = this.secrets.open(sealed);
      this.opened.set(sealed, key);
    }
    return key;
  }

  /** Where each key comes from, safe to show: env names, or "sealed #n". */
  static describeKeys(refs: UpstreamKeyRef[]): string[] {
    return refs.map((ref, i) => ('env' in ref ? `env:${ref.env}` : `sealed #${i + 1}`));
  }

  /**
   * A provider's stored settings: the input's own checks (checkProviderInput), then the operator's
   * policy: where the base URL may point, which variables keys may name; literal keys sealed.
   */
  checkProvider(input: ProviderInput): ProviderSettings {
    const checked = checkProviderInput(input);
    if (checked.baseUrl !== null) {
      const refused = this.policy.egress.refusesUrl(new URL(checked.baseUrl));
      if (refused) throw new BadInputError(`baseUrl: ${refused}`, 'baseUrl');
    }
    const upstreamKeys: UpstreamKeyRef[] = checked.upstreamKeys.map((key) => {
      if ('literal' in key) return { encrypted: this.secrets.seal(key.literal) };
      if (!this.policy.envKeys.allows(key.env)) {
        throw new BadInputError(
          `env:${key.env} is not an environment variable the operator allows upstream keys to name ` +
            `(TOLLGATE_UPSTREAM_ENV_KEYS: ${this.policy.envKeys.describe()})`,
          'upstreamKeys',
        );
      }
      return { env: key.env };
    });
    return { ...checked, upstreamKeys };
  }

  private async load(projectId: string): Promise<Catalog> {
    const [providers, models] = await Promise.all([
      this.db.getRepository(Provider).find({ where: { projectId } }),
      this.db.getRepository(Model).find({ where: { projectId }, order: { name: 'ASC' } }),
    ]);
    return {
      providers: new Map(providers.map((p) => [p.id, p])),
      models: new Map(models.map((m) => [m.name, m])),
    };
  }
}

/** What a provider row holds beyond its identity (and owner). */
export type ProviderSettings = Omit<
  Provider,
  'id' | 'projectId' | 'project' | 'name' | 'createdAt' | 'managedBy'
>;

/** An upstream key as given: `env:NAME`, or a literal key (sealed before it is stored). */
export type UpstreamKeyInput = { env: string } | { literal: string };

/**
 * A provider's settings as the API checks them before any policy of the operator's: its kind, base
 * URL, key syntax, limits and simulation. Pure (no database, no environment): a configuration file
 * is checked with it too.
 */
export function checkProviderInput(
  input: ProviderInput,
): Omit<ProviderSettings, 'upstreamKeys'> & { upstreamKeys: UpstreamKeyInput[] } {
  const kind = input.kind;
  if (!Object.values(ProviderKind).includes(kind)) throw new BadInputError('Unknown provider kind', 'kind');
  let baseUrl: string | null = null;
  if (kind === 'OPENAI_COMPATIBLE' || kind === 'ANTHROPIC') baseUrl = checkBaseUrl(input.baseUrl ?? '');
  const upstreamKeys = (input.upstreamKeys ?? []).map((key): UpstreamKeyInput => {
    const value = key.trim();
    if (!value) throw new BadInputError('An upstream key is empty', 'upstreamKeys');
    if (!value.startsWith('env:')) return { literal: value };
    const name = value.slice(4);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new BadInputError(`"${value}" is not env:NAME with a variable name`, 'upstreamKeys');
    }
    return { env: name };
  });
  const given = input.simulation ?? {};
  const simulation: SimulationSettings | null =
    kind === 'SIMULATED'
      ? { ...DEFAULT_SIMULATION, ...given, wire: given.wire ?? DEFAULT_SIMULATION.wire }
      : null;
  if (simulation) {
    if (!(simulation.failureRate >= 0 && simulation.failureRate <= 1)) {
      throw new BadInputError('simulation.failureRate must be within [0, 1]', 'simulation');
    }
    if (!(simulation.latencyMs >= 0) || !(simulation.chunkDelayMs >= 0)) {
      throw new BadInputError('simulation delays must not be negative', 'simulation');
    }
  }
  return {
    kind,
    baseUrl,
    upstreamKeys,
    requestsPerMinute: positive(input.requestsPerMinute ?? 1000, 'requestsPerMinute'),
    maxConcurrency: positive(input.maxConcurrency ?? 64, 'maxConcurrency'),
    timeoutMs: positive(input.timeoutMs ?? 30_000, 'timeoutMs'),
    simulation,
  };
}

/** An http(s) URL without credentials, trailing slashes removed (where it may point is the policy's). */
function checkBaseUrl(raw: string): string {
  const baseUrl = raw.trim().replace(/\/+$/, '');
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new BadInputError('baseUrl must be an http(s) URL', 'baseUrl');
  }
  if (!['http:', 'https:'].includes(url.protocol) || /\s/.test(baseUrl) || baseUrl.length > 2000) {
    throw new BadInputError('baseUrl must be an http(s) URL', 'baseUrl');
  }
  if (url.username || url.password) throw new BadInputError('baseUrl must not carry credentials', 'baseUrl');
  return baseUrl;
}

/** A model's name, prices, margin and tiers as the API checks them. Pure: a configuration file is checked with it too. */
export function checkModelInput(
  input: Pick<
    ModelInput,
    | 'name'
    | 'promptPrice'
    | 'completionPrice'
    | 'cachedPromptPrice'
    | 'cacheWritePrice'
    | 'promptMargin'
    | 'tiers'
  >,
): Pick<
  Model,
  | 'name'
  | 'promptPrice'
  | 'completionPrice'
  | 'cachedPromptPrice'
  | 'cacheWritePrice'
  | 'promptMargin'
  | 'tiers'
> {
  const tiers = input.tiers ?? [];
  if (tiers.some((t) => !TIERS.includes(t))) throw new BadInputError('Unknown tier', 'tiers');
  return {
    name: checkName(input.name, 'name'),
    promptPrice: checkPrice(input.promptPrice, 'promptPrice'),
    completionPrice: checkPrice(input.completionPrice, 'completionPrice'),
    cachedPromptPrice: optionalPrice(input.cachedPromptPrice, 'cachedPromptPrice'),
    cacheWritePrice: optionalPrice(input.cacheWritePrice, 'cacheWritePrice'),
    promptMargin: checkMargin(input.promptMargin),
    tiers: [...new Set(tiers)],
  };
}

function checkPrice(value: string, field: string): Pico {
  let price: Pico;
  try {
    price = parseUsd(value);
  } catch {
    throw new BadInputError(`${field} must be a decimal USD amount per million tokens`, field);
  }
  if (!isValidPrice(price)) throw new BadInputError(`${field} must be >= 0 with at most 6 decimals`, field);
  if (price > MAX_PRICE)
    throw new BadInputError(`${field} must be at most ${formatUsd(MAX_PRICE)} USD per million tokens`, field);
  return price;
}

function optionalPrice(value: string | null | undefined, field: string): Pico | null {
  return value === null || value === undefined || value.trim() === '' ? null : checkPrice(value, field);
}

/** A margin of 0 to 10 (1000%), at most 4 decimals, or null for the family's default. */
function checkMargin(value: number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (
    !Number.isFinite(value) ||
    value < 0 ||
    value > 10 ||
    Math.abs(Math.round(value * 1e4) - value * 1e4) > 1e-6
  ) {
    throw new BadInputError('promptMargin must be from 0 to 10 with at most 4 decimals', 'promptMargin');
  }
  return value;
}

function positive(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new BadInputError(`${field} must be a positive integer`, field);
  return value;
}

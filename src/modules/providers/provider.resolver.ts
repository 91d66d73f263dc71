import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../projects/request-context';
import { requireProjectKey } from '../projects/auth.service';
import { CatalogService } from './catalog.service';
import type { PromptMargins } from './prompt-margin';
import type { Model } from './model.entity';
import type { Provider } from './provider.entity';
import {
  CreateProviderInput,
  ModelInput,
  ModelType,
  ProviderType,
  type ProviderKindEnum,
  type TierEnum,
} from './provider.types';

@Resolver()
export class ProviderResolver {
  constructor(
    private readonly catalog: CatalogService,
    private readonly margins: PromptMargins,
  ) {}

  @Query(() => [ProviderType])
  async providers(@Ctx() ctx: Context): Promise<ProviderType[]> {
    const who = requireProjectKey(ctx);
    return (await this.catalog.listProviders(who.projectId)).map(providerView);
  }

  @Query(() => [ModelType])
  async models(@Ctx() ctx: Context): Promise<ModelType[]> {
    const who = requireProjectKey(ctx);
    const { providers, models } = await this.catalog.catalog(who.projectId);
    return [...models.values()].map((m) => this.modelView(m, providers.get(m.providerId)));
  }

  @Mutation(() => ProviderType)
  async createProvider(@Ctx() ctx: Context, @Arg('input') input: CreateProviderInput): Promise<ProviderType> {
    const who = requireProjectKey(ctx, true);
    return providerView(
      await this.catalog.createProvider(who.projectId, { ...input, simulation: input.simulation ?? null }),
    );
  }

  @Mutation(() => ModelType, {
    description: 'Adds a model, or updates it (prices, tiers, provider) when the name exists.',
  })
  async upsertModel(@Ctx() ctx: Context, @Arg('input') input: ModelInput): Promise<ModelType> {
    const who = requireProjectKey(ctx, true);
    const model = await this.catalog.upsertModel(who.projectId, input);
    const { providers } = await this.catalog.catalog(who.projectId);
    return this.modelView(model, providers.get(model.providerId));
  }

  @Mutation(() => Boolean)
  deleteModel(@Ctx() ctx: Context, @Arg('name') name: string): Promise<boolean> {
    const who = requireProjectKey(ctx, true);
    return this.catalog.deleteModel(who.projectId, name);
  }

  private modelView(m: Model, provider: Provider | undefined): ModelType {
    return {
      id: m.id,
      name: m.name,
      upstreamName: m.upstreamName,
      provider: provider?.name ?? '',
      promptPrice: m.promptPrice,
      completionPrice: m.completionPrice,
      promptMargin: m.promptMargin,
      effectivePromptMargin:
        Math.round(((provider ? this.margins.factor(m, provider) : 1 + (m.promptMargin ?? 0)) - 1) * 1e4) /
        1e4,
      tiers: m.tiers as TierEnum[],
      enabled: m.enabled,
    };
  }
}

function providerView(p: Provider): ProviderType {
  return {
    id: p.id,
    name: p.name,
    kind: p.kind as ProviderKindEnum,
    baseUrl: p.baseUrl,
    keySources: CatalogService.describeKeys(p.upstreamKeys),
    requestsPerMinute: p.requestsPerMinute,
    maxConcurrency: p.maxConcurrency,
    timeoutMs: p.timeoutMs,
    simulation: p.simulation,
  };
}

import { Arg, Authorized, Mutation, Query, Resolver } from 'type-graphql';
import { CurrentKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import { CatalogService } from './catalog.service';
import type { PromptMargins } from './prompt-margin';
import type { Model } from './model.entity';
import type { Provider } from './provider.entity';
import { CreateProviderInput, ModelInput, ModelType, ProviderType } from './provider.types';

@Resolver()
export class ProviderResolver {
  constructor(
    private readonly catalog: CatalogService,
    private readonly margins: PromptMargins,
  ) {}

  @Authorized(Role.PROJECT)
  @Query(() => [ProviderType])
  async providers(@CurrentKey() who: KeyPrincipal): Promise<ProviderType[]> {
    return (await this.catalog.listProviders(who.projectId)).map(providerView);
  }

  @Authorized(Role.PROJECT)
  @Query(() => [ModelType])
  async models(@CurrentKey() who: KeyPrincipal): Promise<ModelType[]> {
    const { providers, models } = await this.catalog.catalog(who.projectId);
    return [...models.values()].map((m) => this.modelView(m, providers.get(m.providerId)));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => ProviderType)
  async createProvider(
    @CurrentKey() who: KeyPrincipal,
    @Arg('input') input: CreateProviderInput,
  ): Promise<ProviderType> {
    return providerView(
      await this.catalog.createProvider(who.projectId, { ...input, simulation: input.simulation ?? null }),
    );
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => ModelType, {
    description: 'Adds a model, or updates it (prices, tiers, provider) when the name exists.',
  })
  async upsertModel(@CurrentKey() who: KeyPrincipal, @Arg('input') input: ModelInput): Promise<ModelType> {
    const model = await this.catalog.upsertModel(who.projectId, input);
    const { providers } = await this.catalog.catalog(who.projectId);
    return this.modelView(model, providers.get(model.providerId));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Boolean)
  deleteModel(@CurrentKey() who: KeyPrincipal, @Arg('name') name: string): Promise<boolean> {
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
      cachedPromptPrice: m.cachedPromptPrice,
      cacheWritePrice: m.cacheWritePrice,
      promptMargin: m.promptMargin,
      effectivePromptMargin:
        Math.round(((provider ? this.margins.factor(m, provider) : 1 + (m.promptMargin ?? 0)) - 1) * 1e4) /
        1e4,
      tiers: m.tiers,
      enabled: m.enabled,
      managedBy: m.managedBy ?? null,
    };
  }
}

function providerView(p: Provider): ProviderType {
  return {
    id: p.id,
    name: p.name,
    kind: p.kind,
    baseUrl: p.baseUrl,
    keySources: CatalogService.describeKeys(p.upstreamKeys),
    requestsPerMinute: p.requestsPerMinute,
    maxConcurrency: p.maxConcurrency,
    timeoutMs: p.timeoutMs,
    simulation: p.simulation && { ...p.simulation, wire: p.simulation.wire ?? 'OPENAI' },
    managedBy: p.managedBy ?? null,
  };
}

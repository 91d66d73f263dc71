import { Authorized, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { CurrentKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import { ModelType, ProviderType } from '../providers/provider.types';
import type { LimiterStatsService, ModelCircuit } from './limiter-stats.service';
import { CircuitStatusType, LimiterStatsType, UpstreamKeyStatusType } from './limiter.types';

@Resolver()
export class LimiterResolver {
  constructor(private readonly stats: LimiterStatsService) {}

  @Authorized(Role.PROJECT)
  @Query(() => LimiterStatsType, {
    description:
      "Upstream keys' slots, queues and RPM tokens and the circuits (this instance), and the gateway keys' and project's rate buckets.",
  })
  async limiterStats(@CurrentKey() who: KeyPrincipal): Promise<LimiterStatsType> {
    const stats = await this.stats.stats(who.projectId);
    return { ...stats, circuits: stats.circuits.map(circuitView) };
  }
}

/** Adds live limiter state to the `providers` query. */
@Resolver(() => ProviderType)
export class ProviderLimitsResolver {
  constructor(private readonly stats: LimiterStatsService) {}

  @Authorized(Role.PROJECT)
  @FieldResolver(() => [CircuitStatusType], { description: "Its models' circuit breakers (this instance)." })
  async circuits(
    @Root() provider: ProviderType,
    @CurrentKey() who: KeyPrincipal,
  ): Promise<CircuitStatusType[]> {
    return (await this.stats.circuits(who.projectId, provider.id)).map(circuitView);
  }

  @Authorized(Role.PROJECT)
  @FieldResolver(() => [UpstreamKeyStatusType], {
    description:
      'Each upstream key: slots, queue, RPM tokens, refused or not (this instance). Never the key.',
  })
  upstreamKeys(
    @Root() provider: ProviderType,
    @CurrentKey() who: KeyPrincipal,
  ): Promise<UpstreamKeyStatusType[]> {
    return this.stats.upstreamKeys(who.projectId, provider.id);
  }
}

/** Adds the circuit state to the `models` query. */
@Resolver(() => ModelType)
export class ModelLimitsResolver {
  constructor(private readonly stats: LimiterStatsService) {}

  @Authorized(Role.PROJECT)
  @FieldResolver(() => CircuitStatusType, {
    nullable: true,
    description: 'Its circuit breaker (this instance).',
  })
  async circuit(
    @Root() model: ModelType,
    @CurrentKey() who: KeyPrincipal,
  ): Promise<CircuitStatusType | null> {
    const circuit = await this.stats.circuit(who.projectId, model.name);
    return circuit && circuitView(circuit);
  }
}

function circuitView(c: ModelCircuit): CircuitStatusType {
  return {
    provider: c.provider,
    model: c.model,
    state: c.state,
    consecutiveFailures: c.consecutiveFailures,
    openedAt: c.openedAt,
    retryAt: c.retryAt,
  };
}

import { Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import type { Context } from '../projects/request-context';
import { requireProjectKey } from '../projects/auth.service';
import { ModelType, ProviderType } from '../providers/provider.types';
import type { LimiterStatsService } from './limiter-stats.service';
import {
  CircuitStatusType,
  LimiterStatsType,
  UpstreamKeyStatusType,
  type CircuitStateEnum,
} from './limiter.types';

@Resolver()
export class LimiterResolver {
  constructor(private readonly stats: LimiterStatsService) {}

  @Query(() => LimiterStatsType, {
    description:
      "Upstream keys' slots, queues and RPM tokens and the circuits (this instance), and the gateway keys' and project's rate buckets.",
  })
  async limiterStats(@Ctx() ctx: Context): Promise<LimiterStatsType> {
    const who = requireProjectKey(ctx);
    const stats = await this.stats.stats(who.projectId);
    return { ...stats, circuits: stats.circuits.map(circuitView) };
  }
}

/** Adds live limiter state to the `providers` query. */
@Resolver(() => ProviderType)
export class ProviderLimitsResolver {
  constructor(private readonly stats: LimiterStatsService) {}

  @FieldResolver(() => [CircuitStatusType], { description: "Its models' circuit breakers (this instance)." })
  async circuits(@Root() provider: ProviderType, @Ctx() ctx: Context): Promise<CircuitStatusType[]> {
    const who = requireProjectKey(ctx);
    return (await this.stats.circuits(who.projectId, provider.id)).map(circuitView);
  }

  @FieldResolver(() => [UpstreamKeyStatusType], {
    description:
      'Each upstream key: slots, queue, RPM tokens, refused or not (this instance). Never the key.',
  })
  upstreamKeys(@Root() provider: ProviderType, @Ctx() ctx: Context): Promise<UpstreamKeyStatusType[]> {
    const who = requireProjectKey(ctx);
    return this.stats.upstreamKeys(who.projectId, provider.id);
  }
}

/** Adds the circuit state to the `models` query. */
@Resolver(() => ModelType)
export class ModelLimitsResolver {
  constructor(private readonly stats: LimiterStatsService) {}

  @FieldResolver(() => CircuitStatusType, {
    nullable: true,
    description: 'Its circuit breaker (this instance).',
  })
  async circuit(@Root() model: ModelType, @Ctx() ctx: Context): Promise<CircuitStatusType | null> {
    const who = requireProjectKey(ctx);
    const circuit = await this.stats.circuit(who.projectId, model.name);
    return circuit && circuitView(circuit);
  }
}

function circuitView(c: {
  provider: string;
  model: string;
  state: string;
  consecutiveFailures: number;
  openedAt: Date | null;
  retryAt: Date | null;
}): CircuitStatusType {
  return { ...c, state: c.state as CircuitStateEnum };
}

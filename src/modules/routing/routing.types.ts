import { Field, Float, Int, ObjectType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';

@ObjectType('RouteStats', { description: 'One route (tier:model) of the routing report.' })
export class RouteStatsType {
  @Field({ description: '"TIER:model"; explicit calls are "EXPLICIT:model".' }) key!: string;
  @Field({ description: 'SIMPLE, MODERATE, COMPLEX or EXPLICIT.' }) tier!: string;
  @Field({ description: 'The model that served.' }) model!: string;
  @Field(() => Int, { description: 'Successful calls.' }) requests!: number;
  @Field(() => Int, { description: 'Calls that reached the upstream and failed.' }) failures!: number;
  @Field(() => Int, { description: 'Successful calls on a model with no price (left out of savings).' })
  unpricedRequests!: number;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int, { description: "Of the prompt, read from the provider's cache." })
  cachedPromptTokens!: number;
  @Field(() => Int, { description: "Of the prompt, written to the provider's cache." })
  cacheWriteTokens!: number;
  @Field(() => USDScalar) cost!: Pico;
  @Field(() => USDScalar, { description: "What the provider's cache saved against the full prompt price." })
  cacheSavings!: Pico;
  @Field(() => USDScalar, { description: 'cost / requests, to the nearest pico-dollar.' })
  costPerRequest!: Pico;
  @Field(() => Float, { description: 'Average gateway latency of successful calls, ms.' })
  averageLatencyMs!: number;
  @Field(() => Float, { description: 'Average upstream latency of successful calls, ms.' })
  averageUpstreamLatencyMs!: number;
  @Field(() => USDScalar, {
    description:
      'The same tokens priced on the baseline model, class by class (its cache prices where it has them).',
  })
  baselineCost!: Pico;
  @Field(() => USDScalar, { description: 'baselineCost minus cost (negative when the route was dearer).' })
  savings!: Pico;
}

@ObjectType('RoutingReport')
export class RoutingReportType {
  @Field() from!: Date;
  @Field() to!: Date;
  @Field() baselineModel!: string;
  @Field(() => Int, { description: 'Successful calls.' }) requests!: number;
  @Field(() => Int) failures!: number;
  @Field(() => Int) unpricedRequests!: number;
  @Field(() => USDScalar) cost!: Pico;
  @Field(() => USDScalar, { description: "What the providers' caches saved against the full prompt prices." })
  cacheSavings!: Pico;
  @Field(() => USDScalar, { description: 'cost / requests, to the nearest pico-dollar.' })
  averageCostPerRequest!: Pico;
  @Field(() => USDScalar) baselineCost!: Pico;
  @Field(() => USDScalar, {
    description: 'What routing saved against sending every call to the baseline model.',
  })
  savings!: Pico;
  @Field(() => Float, { description: 'savings / baselineCost (display only; the USD figures are exact).' })
  savingsRatio!: number;
  @Field(() => [RouteStatsType]) routes!: RouteStatsType[];
}

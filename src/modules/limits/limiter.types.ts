import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { CircuitState } from '../upstream/circuit-breaker';

registerEnumType(CircuitState, {
  name: 'CircuitState',
  description: 'CLOSED: calls pass. OPEN: calls are refused. HALF_OPEN: the next call is a probe.',
});

@ObjectType('CircuitStatus', { description: "A model's circuit breaker on this instance." })
export class CircuitStatusType {
  @Field() provider!: string;
  @Field() model!: string;
  @Field(() => CircuitState) state!: CircuitState;
  @Field(() => Int) consecutiveFailures!: number;
  @Field(() => Date, { nullable: true }) openedAt!: Date | null;
  @Field(() => Date, { nullable: true, description: 'When an open circuit lets its next probe through.' })
  retryAt!: Date | null;
}

@ObjectType('UpstreamKeyStatus', {
  description: "One upstream key's limits on this instance. The key itself is never shown.",
})
export class UpstreamKeyStatusType {
  @Field() provider!: string;
  @Field(() => Int, { description: "1-based position in the provider's key list." }) index!: number;
  @Field({ description: 'env:NAME, "sealed #n", or "simulated".' }) source!: string;
  @Field(() => Int, { description: 'Requests in flight.' }) active!: number;
  @Field(() => Int, { description: 'Requests waiting for a slot.' }) queued!: number;
  @Field(() => Int) maxConcurrency!: number;
  @Field(() => Int) requestsPerMinute!: number;
  @Field(() => Int, { description: 'RPM tokens in the bucket now.' }) availableTokens!: number;
  @Field(() => Float, { description: '(active + queued) / maxConcurrency.' }) utilization!: number;
  @Field({ description: 'Refused (401/403) and in its cooldown.' }) failed!: boolean;
  @Field(() => Date, { nullable: true }) failedUntil!: Date | null;
}

@ObjectType('RateLimitStatus')
export class RateLimitStatusType {
  @Field(() => Int, { nullable: true }) rpmLimit!: number | null;
  @Field(() => Int, { nullable: true }) tpmLimit!: number | null;
  @Field(() => Int, { nullable: true, description: 'Requests that may start now.' })
  availableRequests!: number | null;
  @Field(() => Int, { nullable: true, description: 'Tokens that may be charged now.' })
  availableTokens!: number | null;
  @Field(() => Float, { description: 'The fuller bucket: 0 idle, 1 exhausted.' }) utilization!: number;
}

@ObjectType('GatewayKeyLimitStatus')
export class GatewayKeyLimitStatusType extends RateLimitStatusType {
  @Field(() => ID) apiKeyId!: string;
  @Field() name!: string;
  @Field() prefix!: string;
}

@ObjectType('LimiterStats')
export class LimiterStatsType {
  @Field({
    description:
      'True when gateway-key and project limits are shared by every instance (Redis); false: each instance counts its own.',
  })
  distributed!: boolean;
  @Field(() => Int, { description: 'Upstream requests in flight on this instance.' }) active!: number;
  @Field(() => Int, { description: 'Upstream requests waiting for a slot on this instance.' })
  queued!: number;
  @Field(() => [UpstreamKeyStatusType]) upstreamKeys!: UpstreamKeyStatusType[];
  @Field(() => [CircuitStatusType]) circuits!: CircuitStatusType[];
  @Field(() => [GatewayKeyLimitStatusType], { description: 'Keys of the project that have limits.' })
  gatewayKeys!: GatewayKeyLimitStatusType[];
  @Field(() => RateLimitStatusType) project!: RateLimitStatusType;
}

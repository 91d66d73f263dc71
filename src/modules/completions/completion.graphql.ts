import { Field, Float, ID, InputType, Int, ObjectType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';
import { TierEnum } from '../providers/provider.types';

/**
 * The output types below are plain data (no field resolvers, no middlewares), so their fields
 * take graphql's default resolver instead of type-graphql's per-field wrapper: less work on
 * every completion's result, the same schema.
 */
const PLAIN = { simpleResolvers: true } as const;

@InputType('ChatMessageInput')
export class ChatMessageInput {
  @Field({ description: 'system, user, assistant or tool.' }) role!: string;
  @Field() content!: string;
  @Field(() => String, { nullable: true }) name?: string | null;
}

@InputType('ChatCompletionInput')
export class ChatCompletionInput {
  @Field(() => String, { nullable: true, description: 'A model name, or "auto" (default) to route by cost.' })
  model?: string | null;
  @Field(() => [ChatMessageInput]) messages!: ChatMessageInput[];
  @Field(() => Int, {
    nullable: true,
    description: 'Completion token cap (default 1024); bounds the reservation.',
  })
  maxTokens?: number | null;
  @Field(() => Float, { nullable: true }) temperature?: number | null;
  @Field(() => String, {
    nullable: true,
    description: 'Idempotency key: a repeat returns the first result, charged once.',
  })
  requestId?: string | null;
  @Field(() => String, {
    nullable: true,
    description: 'e.g. classification or extraction (routes as simple).',
  })
  intent?: string | null;
  @Field(() => Boolean, { nullable: true, description: 'Always routes as complex.' }) requiresReasoning?:
    boolean | null;
}

@ObjectType('TokenUsage', PLAIN)
export class TokenUsageType {
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
}

@ObjectType('Routing', PLAIN)
export class RoutingType {
  @Field(() => TierEnum, { nullable: true, description: 'Null when a model was asked explicitly.' })
  tier!: TierEnum | null;
  @Field() modelRequested!: string;
  @Field() model!: string;
  @Field() provider!: string;
  @Field(() => [String], { description: 'Models tried and abandoned first, in order.' }) fallbacks!: string[];
  @Field({ description: 'True when a DOWNGRADE budget moved the call to a cheaper model.' })
  downgraded!: boolean;
}

@ObjectType('ChatCompletion', PLAIN)
export class ChatCompletionType {
  @Field(() => ID, { description: 'The usage record id.' }) id!: string;
  @Field() requestId!: string;
  @Field() model!: string;
  @Field() content!: string;
  @Field() finishReason!: string;
  @Field(() => TokenUsageType) usage!: TokenUsageType;
  @Field(() => USDScalar, { description: 'Exact cost in USD.' }) cost!: Pico;
  @Field({ description: 'False when the served model had no price (recorded at $0, flagged).' })
  priced!: boolean;
  @Field(() => Int, { description: 'Time spent in the gateway, upstream included.' }) latencyMs!: number;
  @Field(() => Int) upstreamLatencyMs!: number;
  @Field(() => Int) attempts!: number;
  @Field(() => RoutingType) routing!: RoutingType;
  @Field({ description: 'True when this is the stored result of an earlier call with the same requestId.' })
  replayed!: boolean;
  @Field() createdAt!: Date;
}

@InputType('EstimateCostInput')
export class EstimateCostInput {
  @Field(() => String, { nullable: true }) model?: string | null;
  @Field(() => [ChatMessageInput]) messages!: ChatMessageInput[];
  @Field(() => Int, { nullable: true }) maxTokens?: number | null;
  @Field(() => String, { nullable: true }) intent?: string | null;
  @Field(() => Boolean, { nullable: true }) requiresReasoning?: boolean | null;
}

@ObjectType('CostEstimate', PLAIN)
export class CostEstimateType {
  @Field() model!: string;
  @Field(() => TierEnum, { nullable: true }) tier!: TierEnum | null;
  @Field(() => Int, { description: 'Prompt tokens by the tokenizer.' }) promptTokens!: number;
  @Field(() => Int, { description: 'The completion cap used for the worst case.' }) maxTokens!: number;
  @Field(() => USDScalar, {
    description: 'What a call would reserve: prompt plus every allowed completion token.',
  })
  worstCaseCost!: Pico;
}

@ObjectType('ChatCompletionChunk', {
  ...PLAIN,
  description: 'One event of a streamed completion: text deltas, then a last event with the settled result.',
})
export class ChatCompletionChunkType {
  @Field({ description: 'The next piece of text ("" on the last event).' }) delta!: string;
  @Field({ description: 'True on the last event.' }) done!: boolean;
  @Field(() => ChatCompletionType, {
    nullable: true,
    description: 'On the last event: usage, exact cost and routing, as recorded in the ledger.',
  })
  completion!: ChatCompletionType | null;
}

import { GraphQLJSON } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';
import { Tier } from '../providers/model.entity';

/**
 * The output types below are plain data (no field resolvers, no middlewares), so their fields
 * take graphql's default resolver instead of type-graphql's per-field wrapper: less work on
 * every completion's result, the same schema.
 */
const PLAIN = { simpleResolvers: true } as const;

@InputType('ChatMessageInput', {
  description: "One message of OpenAI's chat format: text content, or content parts (images, audio, files).",
})
export class ChatMessageInput {
  @Field({ description: 'system, developer, user, assistant or tool.' }) role!: string;
  @Field(() => String, { nullable: true, description: 'The text (or use contentParts).' }) content?:
    string | null;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description:
      "OpenAI's content parts, as OpenAI takes them: [{type: text, text}, {type: image_url, image_url: {url, detail}}, ...].",
  })
  contentParts?: unknown[] | null;
  @Field(() => String, { nullable: true }) name?: string | null;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description:
      "An assistant message's tool calls, as OpenAI gives them: [{id, type: function, function: {name, arguments}}].",
  })
  toolCalls?: unknown[] | null;
  @Field(() => String, { nullable: true, description: 'On a tool message: the id of the call it answers.' })
  toolCallId?: string | null;
  @Field(() => String, { nullable: true, description: "An assistant message's refusal." }) refusal?:
    string | null;
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
  @Field(() => GraphQLJSON, { nullable: true, description: "Tools the model may call, in OpenAI's shape." })
  tools?: unknown[] | null;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'none, auto, required, or {type: function, function: {name}}.',
  })
  toolChoice?: unknown;
  @Field(() => Boolean, { nullable: true }) parallelToolCalls?: boolean | null;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description: '{type: text | json_object} or {type: json_schema, json_schema: {name, schema, strict}}.',
  })
  responseFormat?: unknown;
  @Field(() => Float, { nullable: true }) topP?: number | null;
  @Field(() => Float, { nullable: true }) presencePenalty?: number | null;
  @Field(() => Float, { nullable: true }) frequencyPenalty?: number | null;
  @Field(() => Int, { nullable: true }) seed?: number | null;
  @Field(() => [String], { nullable: true }) stop?: string[] | null;
  @Field(() => GraphQLJSON, { nullable: true, description: 'Token id -> bias.' }) logitBias?: unknown;
  @Field(() => Boolean, { nullable: true }) logprobs?: boolean | null;
  @Field(() => Int, { nullable: true }) topLogprobs?: number | null;
  @Field(() => Int, { nullable: true, description: 'Choices to generate (each may use maxTokens).' }) n?:
    number | null;
  @Field(() => String, { nullable: true }) user?: string | null;
  @Field(() => GraphQLJSON, { nullable: true }) metadata?: unknown;
  @Field(() => String, { nullable: true }) reasoningEffort?: string | null;
  @Field(() => String, { nullable: true }) serviceTier?: string | null;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description:
      "Any other field of OpenAI's chat request, forwarded as given (snake_case, as OpenAI names it).",
  })
  options?: Record<string, unknown> | null;
}

@ObjectType('TokenUsage', PLAIN)
export class TokenUsageType {
  @Field(() => Int, { description: 'Every prompt token, cache reads and writes included.' })
  promptTokens!: number;
  @Field(() => Int, { description: 'Every completion token, reasoning included.' }) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Int, { description: "Of the prompt, read from the provider's cache." })
  cachedPromptTokens!: number;
  @Field(() => Int, { description: "Of the prompt, written to the provider's cache." })
  cacheWriteTokens!: number;
  @Field(() => Int, { description: 'Of the completion, spent reasoning.' }) reasoningTokens!: number;
}

@ObjectType('ToolCallFunction', PLAIN)
export class ToolCallFunctionType {
  @Field() name!: string;
  @Field({ description: 'The arguments, as the JSON text the model wrote.' }) arguments!: string;
}

@ObjectType('ToolCall', PLAIN)
export class ToolCallType {
  @Field() id!: string;
  @Field() type!: string;
  @Field(() => ToolCallFunctionType) function!: ToolCallFunctionType;
}

@ObjectType('ToolCallDelta', {
  ...PLAIN,
  description: 'A piece of a streamed tool call: id and name first, then arguments.',
})
export class ToolCallDeltaType {
  @Field(() => Int) index!: number;
  @Field(() => String, { nullable: true }) id!: string | null;
  @Field(() => String, { nullable: true }) name!: string | null;
  @Field(() => String, { nullable: true }) arguments!: string | null;
}

@ObjectType('Routing', PLAIN)
export class RoutingType {
  @Field(() => Tier, { nullable: true, description: 'Null when a model was asked explicitly.' })
  tier!: Tier | null;
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
  @Field(() => [ToolCallType], { description: 'The tool calls the model made (first choice).' })
  toolCalls!: ToolCallType[];
  @Field(() => String, { nullable: true, description: 'The refusal, when the model refused.' }) refusal!:
    string | null;
  @Field() finishReason!: string;
  @Field(() => TokenUsageType) usage!: TokenUsageType;
  @Field(() => USDScalar, { description: 'Exact cost in USD, every token class at its price.' }) cost!: Pico;
  @Field(() => USDScalar, { description: "What the provider's cache saved against the full prompt price." })
  cacheSavings!: Pico;
  @Field(() => String, {
    nullable: true,
    description: 'Why the cost is not the plain product of prices, when it is not.',
  })
  priceNote!: string | null;
  @Field(() => GraphQLJSON, {
    description:
      "The answer as the upstream sent it, in OpenAI's chat.completion shape (every choice and field).",
  })
  raw!: Record<string, unknown>;
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
  @Field(() => GraphQLJSON, { nullable: true, description: 'Tools: their definitions count in the prompt.' })
  tools?: unknown[] | null;
  @Field(() => GraphQLJSON, { nullable: true }) toolChoice?: unknown;
  @Field(() => GraphQLJSON, {
    nullable: true,
    description: 'A response format: its schema counts in the prompt.',
  })
  responseFormat?: unknown;
  @Field(() => Int, { nullable: true }) n?: number | null;
}

@ObjectType('CostEstimate', PLAIN)
export class CostEstimateType {
  @Field() model!: string;
  @Field(() => Tier, { nullable: true }) tier!: Tier | null;
  @Field(() => Int, { description: 'Prompt tokens by the tokenizer (tools, schemas and images included).' })
  promptTokens!: number;
  @Field(() => Int, { description: "The prompt tokens reserved: the estimate with the model's margin." })
  reservedPromptTokens!: number;
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
  @Field(() => [ToolCallDeltaType], { description: 'Pieces of tool calls, as the upstream streams them.' })
  toolCalls!: ToolCallDeltaType[];
  @Field({ description: 'True on the last event.' }) done!: boolean;
  @Field(() => ChatCompletionType, {
    nullable: true,
    description: 'On the last event: usage, exact cost and routing, as recorded in the ledger.',
  })
  completion!: ChatCompletionType | null;
}

import { Repeater } from '@graphql-yoga/subscription';
import { Arg, Authorized, Ctx, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { CurrentKey, requireProjectKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Context } from '../projects/request-context';
import { callSpanName, NO_SPAN, type CallSpan, type Tracing } from '../../shared/tracing';
import { DomainError } from '../../shared/errors';
import {
  ChatCompletionChunkType,
  ChatMessageInput,
  ChatCompletionInput,
  ChatCompletionType,
  CostEstimateType,
  EstimateCostInput,
} from './completion.graphql';
import type { CompletionService } from './completion.service';
import type { CompletionChunk, CompletionRequest, CompletionResult } from './completion.types';

/**
 * The context of a graphql-ws operation: a subscription's source is built outside any resolver
 * instance, so the streamed completion finds the pipeline here (server/http.ts puts it there).
 */
export interface StreamingContext extends Context {
  completions: CompletionService;
  tracing: Tracing;
}

@Resolver()
export class CompletionResolver {
  constructor(
    private readonly completions: CompletionService,
    private readonly tracing: Tracing,
  ) {}

  @Authorized(Role.PROJECT)
  @Mutation(() => ChatCompletionType, {
    description: 'A chat completion through the gateway: routed, budgeted, metered.',
  })
  async createChatCompletion(
    @CurrentKey() who: KeyPrincipal,
    @Ctx() ctx: Context,
    @Arg('input') input: ChatCompletionInput,
  ): Promise<ChatCompletionType> {
    const request = toRequest(input);
    const span = callSpan(this.tracing, ctx, request);
    try {
      const result = await graphqlTerms(
        this.completions.complete(who, request, { signal: ctx.signal, span, door: 'graphql' }),
      );
      return completionView(result);
    } catch (error) {
      span.fail(error);
      throw error;
    } finally {
      span.end();
    }
  }

  @Authorized(Role.PROJECT)
  @Subscription(() => ChatCompletionChunkType, {
    description:
      'A streamed completion: deltas as the upstream produces them, then the settled result. ' +
      'Unsubscribing aborts the upstream call; the tokens produced so far are charged.',
    // The source is made before any resolver runs: it checks its caller itself.
    subscribe: ({ args, context }) => {
      const ctx: StreamingContext = context;
      const who = requireProjectKey(ctx);
      const request = toRequest((args as { input: ChatCompletionInput }).input);
      return streamChunks(ctx.completions, who, request, callSpan(ctx.tracing, ctx, request));
    },
  })
  chatCompletionStream(
    @Root() chunk: ChatCompletionChunkType,
    @Arg('input') _input: ChatCompletionInput,
  ): ChatCompletionChunkType {
    return chunk;
  }

  @Authorized(Role.PROJECT)
  @Query(() => CostEstimateType, { description: 'What a call would reserve, without making it.' })
  async estimateCost(
    @CurrentKey() who: KeyPrincipal,
    @Arg('input') input: EstimateCostInput,
  ): Promise<CostEstimateType> {
    const estimate = await graphqlTerms(this.completions.estimate(who, toRequest(input)));
    return {
      model: estimate.model,
      tier: estimate.tier,
      promptTokens: estimate.promptTokens,
      reservedPromptTokens: estimate.reservedPromptTokens,
      maxTokens: estimate.maxTokens,
      worstCaseCost: estimate.worstCaseCost,
    };
  }
}

/** The GraphQL input's fields and the OpenAI request fields they are sent as. */
const OPENAI_NAMES = {
  model: 'model',
  maxTokens: 'max_tokens',
  temperature: 'temperature',
  tools: 'tools',
  toolChoice: 'tool_choice',
  parallelToolCalls: 'parallel_tool_calls',
  responseFormat: 'response_format',
  topP: 'top_p',
  presencePenalty: 'presence_penalty',
  frequencyPenalty: 'frequency_penalty',
  seed: 'seed',
  stop: 'stop',
  logitBias: 'logit_bias',
  logprobs: 'logprobs',
  topLogprobs: 'top_logprobs',
  n: 'n',
  user: 'user',
  metadata: 'metadata',
  reasoningEffort: 'reasoning_effort',
  serviceTier: 'service_tier',
} as const satisfies Partial<Record<keyof ChatCompletionInput, string>>;

const MESSAGE_NAMES = {
  toolCalls: 'tool_calls',
  toolCallId: 'tool_call_id',
} as const;

const GRAPHQL_NAMES: Record<string, string> = Object.fromEntries(
  [...Object.entries(OPENAI_NAMES), ...Object.entries(MESSAGE_NAMES)].map(([graphql, openai]) => [
    openai,
    graphql,
  ]),
);

/**
 * The GraphQL input as OpenAI's chat request, the pipeline's one format: each field under OpenAI's
 * name, only the ones given; `options` carries any other OpenAI field as it is.
 */
function toRequest(input: ChatCompletionInput | EstimateCostInput): CompletionRequest {
  const full: Partial<ChatCompletionInput> = input;
  const body: Record<string, unknown> = { ...(full.options ?? {}) };
  for (const [graphql, openai] of Object.entries(OPENAI_NAMES)) {
    const value = full[graphql as keyof typeof OPENAI_NAMES];
    if (value !== undefined && value !== null) body[openai] = value;
  }
  body.messages = input.messages.map(toMessage);
  return {
    body,
    requestId: full.requestId,
    intent: input.intent,
    requiresReasoning: input.requiresReasoning,
  };
}

function toMessage(m: ChatMessageInput): Record<string, unknown> {
  return withoutAbsent({
    role: m.role,
    content: m.contentParts ?? m.content,
    name: m.name,
    tool_calls: m.toolCalls,
    tool_call_id: m.toolCallId,
    refusal: m.refusal,
  });
}

/** The fields that were given (GraphQL passes absent arguments as undefined or null). */
function withoutAbsent(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined && v !== null));
}

/**
 * A refusal of the request in the GraphQL input's terms: the pipeline names OpenAI's fields
 * (`max_tokens`, `messages[1].tool_calls`); a GraphQL client sent `maxTokens`, `toolCalls`.
 */
function inGraphqlTerms(error: unknown): unknown {
  if (!(error instanceof DomainError) || error.code !== 'BAD_USER_INPUT') return error;
  const rename = (text: string) =>
    text.replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (name) => GRAPHQL_NAMES[name] ?? name);
  const { field } = error.details;
  const details = typeof field === 'string' ? { ...error.details, field: rename(field) } : error.details;
  return new DomainError('BAD_USER_INPUT', rename(error.message), details);
}

async function graphqlTerms<T>(run: Promise<T>): Promise<T> {
  try {
    return await run;
  } catch (error) {
    throw inGraphqlTerms(error);
  }
}

/**
 * A GraphQL call's root span, from when its HTTP request came, with its authentication as the
 * first child (timed by the context, before any resolver ran).
 */
function callSpan(tracing: Tracing, ctx: Context, request: CompletionRequest): CallSpan {
  if (!tracing.enabled) return NO_SPAN;
  const timing = ctx.trace;
  const span = tracing.startCall(
    callSpanName('chat', request.body.model),
    timing?.traceparent,
    { 'http.route': '/graphql' },
    timing?.receivedAt,
  );
  if (timing) span.child('authenticate', {}, undefined, timing.receivedAt).end(timing.authenticatedAt);
  return span;
}

/** The pipeline's streaming callback as an async iterable of chunks, ended by the settled result. */
function streamChunks(
  completions: CompletionService,
  who: KeyPrincipal,
  request: CompletionRequest,
  span: CallSpan,
): AsyncIterable<ChatCompletionChunkType> {
  return new Repeater<ChatCompletionChunkType>(async (push, stop) => {
    const controller = new AbortController();
    void stop.then(() => controller.abort(new Error('subscriber went away')));
    try {
      const result = await completions.stream(
        who,
        request,
        (chunk) => {
          const piece = pieceOf(chunk);
          if (piece) void push({ ...piece, done: false, completion: null });
        },
        { signal: controller.signal, span, door: 'graphql' },
      );
      await push({ delta: '', toolCalls: [], done: true, completion: completionView(result) });
      stop();
    } catch (error) {
      span.fail(error);
      stop(inGraphqlTerms(error));
    } finally {
      span.end();
    }
  });
}

/** A chunk's first choice as the subscription streams it: its text and tool-call pieces; null when it has neither. */
function pieceOf(chunk: CompletionChunk): Pick<ChatCompletionChunkType, 'delta' | 'toolCalls'> | null {
  const choice = Array.isArray(chunk.choices)
    ? (chunk.choices[0] as Record<string, unknown> | undefined)
    : undefined;
  const delta = (choice?.delta ?? {}) as { content?: unknown; tool_calls?: unknown };
  const text = typeof delta.content === 'string' ? delta.content : '';
  const calls = Array.isArray(delta.tool_calls) ? delta.tool_calls : [];
  const toolCalls = calls.map((raw, i) => {
    const call = raw as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } };
    return {
      index: typeof call.index === 'number' ? call.index : i,
      id: typeof call.id === 'string' ? call.id : null,
      name: typeof call.function?.name === 'string' ? call.function.name : null,
      arguments: typeof call.function?.arguments === 'string' ? call.function.arguments : null,
    };
  });
  return text || toolCalls.length > 0 ? { delta: text, toolCalls } : null;
}

function completionView(r: CompletionResult): ChatCompletionType {
  return {
    id: r.id,
    requestId: r.requestId,
    model: r.model,
    content: r.content,
    toolCalls: r.toolCalls.map((c) => ({
      id: c.id,
      type: c.type,
      function: { name: c.function.name, arguments: c.function.arguments },
    })),
    refusal: r.refusal,
    finishReason: r.finishReason,
    usage: {
      promptTokens: r.usage.prompt,
      completionTokens: r.usage.completion,
      totalTokens: r.usage.prompt + r.usage.completion,
      cachedPromptTokens: r.usage.cachedPrompt,
      cacheWriteTokens: r.usage.cacheWrite,
      reasoningTokens: r.usage.reasoning,
    },
    cost: r.cost,
    cacheSavings: r.cacheSavings,
    priceNote: r.priceNote,
    raw: r.completion,
    priced: r.priced,
    latencyMs: r.latencyMs,
    upstreamLatencyMs: r.upstreamLatencyMs,
    attempts: r.attempts,
    routing: {
      tier: r.tier,
      modelRequested: r.modelRequested,
      model: r.model,
      provider: r.provider,
      fallbacks: r.fallbacks,
      downgraded: r.downgraded,
    },
    replayed: r.replayed,
    createdAt: r.createdAt,
  };
}

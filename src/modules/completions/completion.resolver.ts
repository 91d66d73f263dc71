import { Repeater } from '@graphql-yoga/subscription';
import { Arg, Ctx, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { Context } from '../projects/request-context';
import { requireProjectKey } from '../projects/auth.service';
import type { TierEnum } from '../providers/provider.types';
import type { ChatRole } from '../upstream/upstream.types';
import {
  ChatCompletionChunkType,
  ChatCompletionInput,
  ChatCompletionType,
  CostEstimateType,
  EstimateCostInput,
} from './completion.graphql';
import type { CompletionService } from './completion.service';
import type { CompletionRequest, CompletionResult } from './completion.types';

/**
 * The context of a graphql-ws operation: a subscription's source is built outside any resolver
 * instance, so the streamed completion finds the pipeline here (server/http.ts puts it there).
 */
export interface StreamingContext extends Context {
  completions: CompletionService;
}

@Resolver()
export class CompletionResolver {
  constructor(private readonly completions: CompletionService) {}

  @Mutation(() => ChatCompletionType, {
    description: 'A chat completion through the gateway: routed, budgeted, metered.',
  })
  async createChatCompletion(
    @Ctx() ctx: Context,
    @Arg('input') input: ChatCompletionInput,
  ): Promise<ChatCompletionType> {
    const who = requireProjectKey(ctx);
    const result = await this.completions.complete(who, toRequest(input), ctx.signal);
    return completionView(result);
  }

  @Subscription(() => ChatCompletionChunkType, {
    description:
      'A streamed completion: deltas as the upstream produces them, then the settled result. ' +
      'Unsubscribing aborts the upstream call; the tokens produced so far are charged.',
    subscribe: ({ args, context }) => {
      const ctx: StreamingContext = context;
      const who = requireProjectKey(ctx);
      return streamChunks(ctx.completions, who, toRequest((args as { input: ChatCompletionInput }).input));
    },
  })
  chatCompletionStream(
    @Root() chunk: ChatCompletionChunkType,
    @Arg('input') _input: ChatCompletionInput,
  ): ChatCompletionChunkType {
    return chunk;
  }

  @Query(() => CostEstimateType, { description: 'What a call would reserve, without making it.' })
  estimateCost(@Ctx() ctx: Context, @Arg('input') input: EstimateCostInput): Promise<CostEstimateType> {
    const who = requireProjectKey(ctx);
    return this.completions.estimate(who, {
      ...input,
      messages: input.messages.map((m) => ({ ...m, role: m.role as ChatRole })),
    }) as Promise<CostEstimateType>;
  }
}

function toRequest(input: ChatCompletionInput): CompletionRequest {
  return { ...input, messages: input.messages.map((m) => ({ ...m, role: m.role as ChatRole })) };
}

/** The pipeline's streaming callback as an async iterable of chunks, ended by the settled result. */
function streamChunks(
  completions: CompletionService,
  who: ReturnType<typeof requireProjectKey>,
  request: CompletionRequest,
): AsyncIterable<ChatCompletionChunkType> {
  return new Repeater<ChatCompletionChunkType>(async (push, stop) => {
    const controller = new AbortController();
    void stop.then(() => controller.abort(new Error('subscriber went away')));
    try {
      const result = await completions.stream(
        who,
        request,
        (text) => void push({ delta: text, done: false, completion: null }),
        controller.signal,
      );
      await push({ delta: '', done: true, completion: completionView(result) });
      stop();
    } catch (error) {
      stop(error);
    }
  });
}

function completionView(r: CompletionResult): ChatCompletionType {
  return {
    id: r.id,
    requestId: r.requestId,
    model: r.model,
    content: r.content,
    finishReason: r.finishReason,
    usage: { promptTokens: r.promptTokens, completionTokens: r.completionTokens, totalTokens: r.totalTokens },
    cost: r.cost,
    priced: r.priced,
    latencyMs: r.latencyMs,
    upstreamLatencyMs: r.upstreamLatencyMs,
    attempts: r.attempts,
    routing: {
      tier: r.tier as TierEnum | null,
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

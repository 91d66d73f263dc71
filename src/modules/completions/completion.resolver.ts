import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { Context } from '../../server/context';
import { requireProjectKey } from '../projects/auth.service';
import type { TierEnum } from '../providers/provider.types';
import type { ChatRole } from '../providers/upstream.types';
import {
  ChatCompletionInput,
  ChatCompletionType,
  CostEstimateType,
  EstimateCostInput,
} from './completion.graphql';
import type { CompletionService } from './completion.service';
import type { CompletionResult } from './completion.types';

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
    const result = await this.completions.create(
      who,
      { ...input, messages: input.messages.map((m) => ({ ...m, role: m.role as ChatRole })) },
      ctx.signal,
    );
    return completionView(result);
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

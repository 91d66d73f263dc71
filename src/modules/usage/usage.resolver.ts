import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import { CurrentKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import { apiKeyView, ApiKeyType } from '../projects/project.types';
import type { Context } from '../projects/request-context';
import type { UsageRecord } from './usage-record.entity';
import { encodeCursor, type UsageService } from './usage.service';
import { UsageRangeInput, UsageRecordConnectionType, UsageRecordType, UsageReportType } from './usage.types';

@Resolver(() => UsageRecordType)
export class UsageResolver {
  constructor(private readonly usageService: UsageService) {}

  @Authorized(Role.PROJECT)
  @Query(() => UsageReportType, {
    description: 'Totals over [from, to), grouped by model, UTC day, API key or route.',
  })
  async usage(
    @CurrentKey() who: KeyPrincipal,
    @Arg('input') input: UsageRangeInput,
  ): Promise<UsageReportType> {
    const groups = await this.usageService.totals(who.projectId, input);
    const total = groups.reduce(
      (t, g) => ({
        key: 'total',
        requests: t.requests + g.requests,
        promptTokens: t.promptTokens + g.promptTokens,
        completionTokens: t.completionTokens + g.completionTokens,
        totalTokens: t.totalTokens + g.totalTokens,
        cachedPromptTokens: t.cachedPromptTokens + g.cachedPromptTokens,
        cacheWriteTokens: t.cacheWriteTokens + g.cacheWriteTokens,
        reasoningTokens: t.reasoningTokens + g.reasoningTokens,
        cost: t.cost + g.cost,
        cacheSavings: t.cacheSavings + g.cacheSavings,
      }),
      {
        key: 'total',
        requests: 0,
        promptTokens: 0,
        completionTokens: 0,
        totalTokens: 0,
        cachedPromptTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0,
        cost: 0n,
        cacheSavings: 0n,
      },
    );
    return { from: input.from, to: input.to, groupBy: input.groupBy, groups, total };
  }

  @Authorized(Role.PROJECT)
  @Query(() => UsageRecordConnectionType, { description: 'The ledger, newest first, in cursor pages.' })
  async usageRecords(
    @CurrentKey() who: KeyPrincipal,
    @Arg('first', () => Int, { defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('apiKeyId', () => ID, { nullable: true }) apiKeyId?: string | null,
  ): Promise<UsageRecordConnectionType> {
    const { records, hasNextPage } = await this.usageService.page(who.projectId, first, after, apiKeyId);
    const last = records.at(-1);
    return {
      nodes: records.map(usageRecordView),
      pageInfo: { endCursor: last ? encodeCursor(last) : null, hasNextPage },
    };
  }

  @FieldResolver(() => ApiKeyType, { nullable: true, description: 'The key that made the call (batched).' })
  async apiKey(@Root() record: UsageRecordType, @Ctx() ctx: Context): Promise<ApiKeyType | null> {
    if (!record.apiKeyId) return null;
    const key = await ctx.loaders.apiKey.load(record.apiKeyId);
    return key && apiKeyView(key);
  }
}

function usageRecordView(r: UsageRecord): UsageRecordType {
  return {
    id: r.id,
    requestId: r.requestId,
    kind: r.kind,
    apiKeyId: r.apiKeyId,
    modelRequested: r.modelRequested,
    modelServed: r.modelServed,
    provider: r.provider,
    routeTier: r.routeTier,
    promptTokens: r.promptTokens,
    completionTokens: r.completionTokens,
    totalTokens: r.totalTokens,
    cachedPromptTokens: r.cachedPromptTokens,
    cacheWriteTokens: r.cacheWriteTokens,
    reasoningTokens: r.reasoningTokens,
    cost: r.cost,
    cacheSavings: r.cacheSavings,
    priced: r.priced,
    priceNote: r.priceNote,
    gatewayLatencyMs: r.gatewayLatencyMs,
    upstreamLatencyMs: r.upstreamLatencyMs,
    attempts: r.attempts,
    outcome: r.outcome,
    errorCode: r.errorCode,
    fallbacks: r.fallbacks,
    downgraded: r.downgraded,
    createdAt: r.createdAt,
  };
}

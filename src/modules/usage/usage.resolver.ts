import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import type { Context } from '../projects/request-context';
import { requireProjectKey } from '../projects/auth.service';
import { ApiKeyType } from '../projects/project.types';
import { encodeCursor, type UsageService } from './usage.service';
import { UsageRangeInput, UsageRecordConnectionType, UsageRecordType, UsageReportType } from './usage.types';

@Resolver(() => UsageRecordType)
export class UsageResolver {
  constructor(private readonly usageService: UsageService) {}

  @Query(() => UsageReportType, {
    description: 'Totals over [from, to), grouped by model, UTC day, API key or route.',
  })
  async usage(@Ctx() ctx: Context, @Arg('input') input: UsageRangeInput): Promise<UsageReportType> {
    const who = requireProjectKey(ctx);
    const groups = await this.usageService.totals(who.projectId, input);
    const total = groups.reduce(
      (t, g) => ({
        key: 'total',
        requests: t.requests + g.requests,
        promptTokens: t.promptTokens + g.promptTokens,
        completionTokens: t.completionTokens + g.completionTokens,
        totalTokens: t.totalTokens + g.totalTokens,
        cost: t.cost + g.cost,
      }),
      { key: 'total', requests: 0, promptTokens: 0, completionTokens: 0, totalTokens: 0, cost: 0n },
    );
    return { from: input.from, to: input.to, groupBy: input.groupBy, groups, total };
  }

  @Query(() => UsageRecordConnectionType, { description: 'The ledger, newest first, in cursor pages.' })
  async usageRecords(
    @Ctx() ctx: Context,
    @Arg('first', () => Int, { defaultValue: 50 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('apiKeyId', () => ID, { nullable: true }) apiKeyId?: string | null,
  ): Promise<UsageRecordConnectionType> {
    const who = requireProjectKey(ctx);
    const { records, hasNextPage } = await this.usageService.page(who.projectId, first, after, apiKeyId);
    const last = records[records.length - 1];
    return { nodes: records, pageInfo: { endCursor: last ? encodeCursor(last) : null, hasNextPage } };
  }

  @FieldResolver(() => ApiKeyType, { nullable: true, description: 'The key that made the call (batched).' })
  async apiKey(@Root() record: UsageRecordType, @Ctx() ctx: Context): Promise<ApiKeyType | null> {
    if (!record.apiKeyId) return null;
    return (await ctx.loaders.apiKey.load(record.apiKeyId)) as ApiKeyType | null;
  }
}

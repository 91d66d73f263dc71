import { Arg, Ctx, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { Context } from '../projects/request-context';
import { requireProjectKey } from '../projects/auth.service';
import type { Budget } from './budget.entity';
import type { BudgetService, BudgetStatus } from './budget.service';
import {
  BudgetMetricsType,
  BudgetProjectionType,
  BudgetStatusType,
  BudgetType,
  CreateBudgetInput,
  UpdateBudgetInput,
  type BudgetPeriodEnum,
  type BudgetPolicyEnum,
} from './budget.types';

@Resolver()
export class BudgetResolver {
  constructor(private readonly budgets: BudgetService) {}

  @Query(() => [BudgetType])
  async budgetList(@Ctx() ctx: Context): Promise<BudgetType[]> {
    const who = requireProjectKey(ctx);
    return (await this.budgets.list(who.projectId)).map(budgetView);
  }

  @Query(() => [BudgetStatusType], {
    description: 'Current-period status of every budget of the project (or one).',
  })
  async budgetStatus(
    @Ctx() ctx: Context,
    @Arg('budgetId', () => ID, { nullable: true }) budgetId?: string,
  ): Promise<BudgetStatusType[]> {
    const who = requireProjectKey(ctx);
    return (await this.budgets.statuses(who.projectId, new Date(), budgetId ?? undefined)).map(statusView);
  }

  @Query(() => [BudgetProjectionType], {
    description:
      'Period-end projection of every budget of the project (or one), with days elapsed and the rate used.',
  })
  async spendProjection(
    @Ctx() ctx: Context,
    @Arg('budgetId', () => ID, { nullable: true }) budgetId?: string,
  ): Promise<BudgetProjectionType[]> {
    const who = requireProjectKey(ctx);
    return (await this.budgets.statuses(who.projectId, new Date(), budgetId ?? undefined)).map((s) => ({
      budget: budgetView(s.budget),
      periodStart: s.window.start,
      periodEnd: s.window.end,
      limit: s.budget.limitUsd,
      spent: s.spent,
      projectedSpend: s.projection.projected,
      ratePerDay: s.projection.ratePerDay,
      daysElapsed: s.projection.daysElapsed,
      daysInPeriod: s.projection.daysInPeriod,
      overrun: s.projection.projected > s.budget.limitUsd,
    }));
  }

  @Mutation(() => BudgetType)
  async createBudget(@Ctx() ctx: Context, @Arg('input') input: CreateBudgetInput): Promise<BudgetType> {
    const who = requireProjectKey(ctx, true);
    return budgetView(await this.budgets.create(who.projectId, input));
  }

  @Mutation(() => BudgetType)
  async updateBudget(
    @Ctx() ctx: Context,
    @Arg('id', () => ID) id: string,
    @Arg('input') input: UpdateBudgetInput,
  ): Promise<BudgetType> {
    const who = requireProjectKey(ctx, true);
    return budgetView(await this.budgets.update(who.projectId, id, input));
  }

  @Mutation(() => Boolean)
  deleteBudget(@Ctx() ctx: Context, @Arg('id', () => ID) id: string): Promise<boolean> {
    const who = requireProjectKey(ctx, true);
    return this.budgets.delete(who.projectId, id);
  }

  @Subscription(() => BudgetMetricsType, {
    description: "Live budget figures of the subscriber's project, after settled calls (coalesced).",
    topics: 'budgetMetrics',
    topicId: ({ context }) => requireProjectKey(context as Context).projectId,
  })
  async budgetMetrics(@Root() event: { projectId: string; at: string }): Promise<BudgetMetricsType> {
    const statuses = await this.budgets.statuses(event.projectId);
    return { projectId: event.projectId, at: new Date(event.at), budgets: statuses.map(statusView) };
  }
}

export function budgetView(b: Budget): BudgetType {
  return { ...b, period: b.period as BudgetPeriodEnum, policy: b.policy as BudgetPolicyEnum };
}

function statusView(s: BudgetStatus): BudgetStatusType {
  return {
    budget: budgetView(s.budget),
    periodStart: s.window.start,
    periodEnd: s.window.end,
    limit: s.budget.limitUsd,
    spent: s.spent,
    reserved: s.reserved,
    remaining: s.remaining,
    utilization: s.utilization,
    promptTokens: s.promptTokens,
    completionTokens: s.completionTokens,
    totalTokens: s.promptTokens + s.completionTokens,
    requests: s.requests,
    projection: {
      projectedSpend: s.projection.projected,
      ratePerDay: s.projection.ratePerDay,
      daysElapsed: s.projection.daysElapsed,
      daysInPeriod: s.projection.daysInPeriod,
      overrun: s.projection.projected > s.budget.limitUsd,
    },
  };
}

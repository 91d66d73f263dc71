import { Arg, Authorized, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { CurrentKey, requireProjectKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Context } from '../projects/request-context';
import type { Budget } from './budget.entity';
import type { BudgetService, BudgetStatus } from './budget.service';
import {
  BudgetMetricsType,
  BudgetProjectionType,
  BudgetStatusType,
  BudgetType,
  CreateBudgetInput,
  UpdateBudgetInput,
} from './budget.types';

@Resolver()
export class BudgetResolver {
  constructor(private readonly budgets: BudgetService) {}

  @Authorized(Role.PROJECT)
  @Query(() => [BudgetType])
  async budgetList(@CurrentKey() who: KeyPrincipal): Promise<BudgetType[]> {
    return (await this.budgets.list(who.projectId)).map(budgetView);
  }

  @Authorized(Role.PROJECT)
  @Query(() => [BudgetStatusType], {
    description: 'Current-period status of every budget of the project (or one).',
  })
  async budgetStatus(
    @CurrentKey() who: KeyPrincipal,
    @Arg('budgetId', () => ID, { nullable: true }) budgetId?: string,
  ): Promise<BudgetStatusType[]> {
    return (await this.budgets.statuses(who.projectId, new Date(), budgetId ?? undefined)).map(statusView);
  }

  @Authorized(Role.PROJECT)
  @Query(() => [BudgetProjectionType], {
    description:
      'Period-end projection of every budget of the project (or one), with days elapsed and the rate used.',
  })
  async spendProjection(
    @CurrentKey() who: KeyPrincipal,
    @Arg('budgetId', () => ID, { nullable: true }) budgetId?: string,
  ): Promise<BudgetProjectionType[]> {
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

  @Authorized(Role.ADMIN)
  @Mutation(() => BudgetType)
  async createBudget(
    @CurrentKey() who: KeyPrincipal,
    @Arg('input') input: CreateBudgetInput,
  ): Promise<BudgetType> {
    return budgetView(await this.budgets.create(who.projectId, input));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => BudgetType)
  async updateBudget(
    @CurrentKey() who: KeyPrincipal,
    @Arg('id', () => ID) id: string,
    @Arg('input') input: UpdateBudgetInput,
  ): Promise<BudgetType> {
    return budgetView(await this.budgets.update(who.projectId, id, input));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Boolean)
  deleteBudget(@CurrentKey() who: KeyPrincipal, @Arg('id', () => ID) id: string): Promise<boolean> {
    return this.budgets.delete(who.projectId, id);
  }

  @Authorized(Role.PROJECT)
  @Subscription(() => BudgetMetricsType, {
    description: "Live budget figures of the subscriber's project, after settled calls (coalesced).",
    topics: 'budgetMetrics',
    // The subscription is made before any resolver runs: it checks its caller itself.
    topicId: ({ context }) => requireProjectKey(context as Context).projectId,
  })
  async budgetMetrics(@Root() event: { projectId: string; at: string }): Promise<BudgetMetricsType> {
    const statuses = await this.budgets.statuses(event.projectId);
    return { projectId: event.projectId, at: new Date(event.at), budgets: statuses.map(statusView) };
  }
}

export function budgetView(b: Budget): BudgetType {
  return {
    id: b.id,
    apiKeyId: b.apiKeyId,
    period: b.period,
    limitUsd: b.limitUsd,
    timeZone: b.timeZone,
    thresholds: b.thresholds,
    policy: b.policy,
    createdAt: b.createdAt,
    managedBy: b.managedBy ?? null,
  };
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

import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';
import { BudgetPeriod, BudgetPolicy } from './budget.entity';

registerEnumType(BudgetPeriod, { name: 'BudgetPeriod' });
registerEnumType(BudgetPolicy, {
  name: 'BudgetPolicy',
  description: 'What happens to a call that would exceed the budget.',
  valuesConfig: {
    REJECT: { description: 'Refuse with BUDGET_EXCEEDED.' },
    DOWNGRADE: { description: 'Serve on the cheapest model that still fits; refuse if none does.' },
  },
});

@ObjectType('Budget')
export class BudgetType {
  @Field(() => ID) id!: string;
  @Field(() => ID, { nullable: true, description: 'Null: the budget covers the whole project.' }) apiKeyId!:
    string | null;
  @Field(() => BudgetPeriod) period!: BudgetPeriod;
  @Field(() => USDScalar) limitUsd!: Pico;
  @Field() timeZone!: string;
  @Field(() => [Float]) thresholds!: number[];
  @Field(() => BudgetPolicy) policy!: BudgetPolicy;
  @Field() createdAt!: Date;
  @Field(() => String, {
    nullable: true,
    description:
      'The configuration file that owns this budget (edits through the API are refused); null: the API does.',
  })
  managedBy!: string | null;
}

@ObjectType('SpendProjection')
export class ProjectionType {
  @Field(() => USDScalar, { description: 'Spend expected at the end of the period at the current run rate.' })
  projectedSpend!: Pico;
  @Field(() => USDScalar, { description: 'The run rate used, per day.' }) ratePerDay!: Pico;
  @Field(() => Float) daysElapsed!: number;
  @Field(() => Float) daysInPeriod!: number;
  @Field({ description: 'True when the projection exceeds the limit.' }) overrun!: boolean;
}

@ObjectType('BudgetStatus')
export class BudgetStatusType {
  @Field(() => BudgetType) budget!: BudgetType;
  @Field() periodStart!: Date;
  @Field() periodEnd!: Date;
  @Field(() => USDScalar) limit!: Pico;
  @Field(() => USDScalar) spent!: Pico;
  @Field(() => USDScalar, { description: 'Worst-case cost of calls in flight.' }) reserved!: Pico;
  @Field(() => USDScalar, { description: 'limit - spent - reserved, never below 0.' }) remaining!: Pico;
  @Field(() => Float, { description: 'spent / limit.' }) utilization!: number;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Int) requests!: number;
  @Field(() => ProjectionType) projection!: ProjectionType;
}

@ObjectType('BudgetProjection', { description: "A budget's period-end projection at the current run rate." })
export class BudgetProjectionType {
  @Field(() => BudgetType) budget!: BudgetType;
  @Field() periodStart!: Date;
  @Field() periodEnd!: Date;
  @Field(() => USDScalar) limit!: Pico;
  @Field(() => USDScalar) spent!: Pico;
  @Field(() => USDScalar, { description: 'Spend expected at the end of the period.' }) projectedSpend!: Pico;
  @Field(() => USDScalar, {
    description: 'The run rate used, per day (early in a period the elapsed time is floored).',
  })
  ratePerDay!: Pico;
  @Field(() => Float) daysElapsed!: number;
  @Field(() => Float) daysInPeriod!: number;
  @Field({ description: 'True when the projection exceeds the limit.' }) overrun!: boolean;
}

@ObjectType('BudgetMetrics', {
  description: 'Pushed after settled calls (coalesced); the figures are read fresh.',
})
export class BudgetMetricsType {
  @Field(() => ID) projectId!: string;
  @Field() at!: Date;
  @Field(() => [BudgetStatusType]) budgets!: BudgetStatusType[];
}

@InputType()
export class CreateBudgetInput {
  @Field(() => ID, { nullable: true, description: 'Limit one API key; omit for the whole project.' })
  apiKeyId?: string | null;
  @Field(() => BudgetPeriod) period!: BudgetPeriod;
  @Field(() => String, { description: 'USD, e.g. "25.00".' }) limitUsd!: string;
  @Field(() => String, { nullable: true, description: 'IANA zone of the calendar windows (default UTC).' })
  timeZone?: string | null;
  @Field(() => [Float], {
    nullable: true,
    description: 'Alert thresholds in (0, 1]; default 0.5, 0.75, 0.9, 0.95.',
  })
  thresholds?: number[] | null;
  @Field(() => BudgetPolicy, { nullable: true }) policy?: BudgetPolicy | null;
}

@InputType()
export class UpdateBudgetInput {
  @Field(() => BudgetPeriod, { nullable: true }) period?: BudgetPeriod;
  @Field(() => String, { nullable: true }) limitUsd?: string;
  @Field(() => String, { nullable: true }) timeZone?: string;
  @Field(() => [Float], { nullable: true }) thresholds?: number[];
  @Field(() => BudgetPolicy, { nullable: true }) policy?: BudgetPolicy;
}

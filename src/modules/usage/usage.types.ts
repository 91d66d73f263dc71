import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';

export enum UsageGroupByEnum {
  MODEL = 'MODEL',
  DAY = 'DAY',
  API_KEY = 'API_KEY',
  ROUTE = 'ROUTE',
}
registerEnumType(UsageGroupByEnum, { name: 'UsageGroupBy' });

@ObjectType('UsageGroup')
export class UsageGroupType {
  @Field({ description: 'Model name, UTC day (YYYY-MM-DD), API key id, or tier:model.' }) key!: string;
  @Field(() => Int) requests!: number;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => USDScalar) cost!: Pico;
}

@ObjectType('UsageReport')
export class UsageReportType {
  @Field() from!: Date;
  @Field() to!: Date;
  @Field(() => UsageGroupByEnum) groupBy!: UsageGroupByEnum;
  @Field(() => [UsageGroupType]) groups!: UsageGroupType[];
  @Field(() => UsageGroupType, { description: 'All groups together (key "total").' }) total!: UsageGroupType;
}

@ObjectType('UsageRecord', { description: 'One completion that reached an upstream. Append-only.' })
export class UsageRecordType {
  @Field(() => ID) id!: string;
  @Field() requestId!: string;
  @Field(() => ID, { nullable: true }) apiKeyId!: string | null;
  @Field() modelRequested!: string;
  @Field() modelServed!: string;
  @Field() provider!: string;
  @Field(() => String, { nullable: true }) routeTier!: string | null;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => USDScalar) cost!: Pico;
  @Field({ description: 'False when the served model had no price (recorded at $0, flagged).' })
  priced!: boolean;
  @Field(() => Int) gatewayLatencyMs!: number;
  @Field(() => Int) upstreamLatencyMs!: number;
  @Field(() => Int) attempts!: number;
  @Field() outcome!: string;
  @Field(() => String, { nullable: true }) errorCode!: string | null;
  @Field(() => [String]) fallbacks!: string[];
  @Field() downgraded!: boolean;
  @Field() createdAt!: Date;
}

@ObjectType('PageInfo')
export class PageInfoType {
  @Field(() => String, { nullable: true }) endCursor!: string | null;
  @Field() hasNextPage!: boolean;
}

@ObjectType('UsageRecordConnection')
export class UsageRecordConnectionType {
  @Field(() => [UsageRecordType]) nodes!: UsageRecordType[];
  @Field(() => PageInfoType) pageInfo!: PageInfoType;
}

@InputType()
export class UsageRangeInput {
  @Field() from!: Date;
  @Field() to!: Date;
  @Field(() => UsageGroupByEnum, { defaultValue: UsageGroupByEnum.MODEL }) groupBy!: UsageGroupByEnum;
  @Field(() => ID, { nullable: true }) apiKeyId?: string | null;
}

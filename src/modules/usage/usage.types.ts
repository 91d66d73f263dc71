import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { USDScalar } from '../../shared/scalars';
import type { Pico } from '../../shared/money';
import { UsageKind, UsageOutcome } from './usage-record.entity';
import { UsageGroupBy } from './usage.service';

registerEnumType(UsageGroupBy, { name: 'UsageGroupBy' });
registerEnumType(UsageKind, { name: 'UsageKind', description: 'What a call asked of its model.' });
registerEnumType(UsageOutcome, {
  name: 'UsageOutcome',
  description: 'How a call that reached an upstream ended.',
  valuesConfig: {
    SUCCESS: { description: 'The upstream answered (a stream cut at maxTokens included).' },
    UPSTREAM_ERROR: {
      description: 'The upstream failed; text a broken stream already passed on is charged.',
    },
    CANCELLED: { description: 'The client went away mid-stream; the text passed on so far is charged.' },
    ABANDONED: {
      description:
        'Its instance died holding the reservation: charged at the worst case, until the real settle or a retry of the requestId replaces it.',
    },
  },
});

@ObjectType('UsageGroup')
export class UsageGroupType {
  @Field({ description: 'Model name, UTC day (YYYY-MM-DD), API key id, tier:model, or kind.' }) key!: string;
  @Field(() => Int) requests!: number;
  @Field(() => Int, { description: 'Every prompt token, cache reads and writes included.' })
  promptTokens!: number;
  @Field(() => Int, { description: 'Every completion token, reasoning included.' }) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Int, { description: "Of the prompt, read from the provider's cache." })
  cachedPromptTokens!: number;
  @Field(() => Int, { description: "Of the prompt, written to the provider's cache." })
  cacheWriteTokens!: number;
  @Field(() => Int, { description: 'Of the completion, spent reasoning.' }) reasoningTokens!: number;
  @Field(() => USDScalar) cost!: Pico;
  @Field(() => USDScalar, { description: "What the provider's cache saved against the full prompt price." })
  cacheSavings!: Pico;
}

@ObjectType('UsageReport')
export class UsageReportType {
  @Field() from!: Date;
  @Field() to!: Date;
  @Field(() => UsageGroupBy) groupBy!: UsageGroupBy;
  @Field(() => [UsageGroupType]) groups!: UsageGroupType[];
  @Field(() => UsageGroupType, { description: 'All groups together (key "total").' }) total!: UsageGroupType;
}

@ObjectType('UsageRecord', {
  description: 'One call (a chat completion or embeddings) that reached an upstream. Append-only.',
})
export class UsageRecordType {
  @Field(() => ID) id!: string;
  @Field() requestId!: string;
  @Field(() => UsageKind) kind!: UsageKind;
  @Field(() => ID, { nullable: true }) apiKeyId!: string | null;
  @Field() modelRequested!: string;
  @Field() modelServed!: string;
  @Field() provider!: string;
  @Field(() => String, { nullable: true }) routeTier!: string | null;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) totalTokens!: number;
  @Field(() => Int, { description: "Of the prompt, read from the provider's cache." })
  cachedPromptTokens!: number;
  @Field(() => Int, { description: "Of the prompt, written to the provider's cache." })
  cacheWriteTokens!: number;
  @Field(() => Int, { description: 'Of the completion, spent reasoning (inside completionTokens).' })
  reasoningTokens!: number;
  @Field(() => USDScalar) cost!: Pico;
  @Field(() => USDScalar, { description: "What the provider's cache saved against the full prompt price." })
  cacheSavings!: Pico;
  @Field({
    description:
      'False when the served model had no price (recorded at $0) or a token class had none (charged at the prompt price); priceNote says which.',
  })
  priced!: boolean;
  @Field(() => String, { nullable: true }) priceNote!: string | null;
  @Field(() => Int) gatewayLatencyMs!: number;
  @Field(() => Int) upstreamLatencyMs!: number;
  @Field(() => Int) attempts!: number;
  @Field(() => UsageOutcome) outcome!: UsageOutcome;
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
  @Field(() => UsageGroupBy, { defaultValue: UsageGroupBy.MODEL }) groupBy!: UsageGroupBy;
  @Field(() => ID, { nullable: true }) apiKeyId?: string | null;
}

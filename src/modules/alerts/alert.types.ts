import { GraphQLJSON } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

export enum AlertTypeEnum {
  BUDGET_THRESHOLD = 'BUDGET_THRESHOLD',
  DAILY_BUDGET_EXCEEDED = 'DAILY_BUDGET_EXCEEDED',
  MONTHLY_BUDGET_EXCEEDED = 'MONTHLY_BUDGET_EXCEEDED',
  PROJECTED_OVERRUN = 'PROJECTED_OVERRUN',
  CIRCUIT_OPEN = 'CIRCUIT_OPEN',
  RESERVATION_EXCEEDED = 'RESERVATION_EXCEEDED',
}
registerEnumType(AlertTypeEnum, { name: 'AlertType' });

export enum SeverityEnum {
  WARNING = 'WARNING',
  CRITICAL = 'CRITICAL',
}
registerEnumType(SeverityEnum, { name: 'Severity' });

export enum WebhookFormatEnum {
  SLACK = 'SLACK',
  JSON = 'JSON',
}
registerEnumType(WebhookFormatEnum, { name: 'WebhookFormat' });

@ObjectType('AlertSnapshot', { description: 'The budget figures at the moment the alert fired.' })
export class AlertSnapshotType {
  @Field(() => String, { nullable: true }) spent?: string;
  @Field(() => String, { nullable: true }) reserved?: string;
  @Field(() => String, { nullable: true }) limit?: string;
  @Field(() => String, { nullable: true }) remaining?: string;
  @Field(() => String, { nullable: true }) projected?: string;
  @Field(() => Float, { nullable: true }) utilization?: number;
  @Field(() => Int, { nullable: true }) promptTokens?: number;
  @Field(() => Int, { nullable: true }) completionTokens?: number;
  @Field(() => Int, { nullable: true }) requests?: number;
}

@ObjectType('Alert')
export class AlertObjectType {
  @Field(() => ID) id!: string;
  @Field(() => AlertTypeEnum) type!: AlertTypeEnum;
  @Field(() => SeverityEnum) severity!: SeverityEnum;
  @Field(() => ID, { nullable: true }) budgetId!: string | null;
  @Field(() => Date, { nullable: true }) periodStart!: Date | null;
  @Field(() => Float, { nullable: true }) threshold!: number | null;
  @Field(() => Float) utilization!: number;
  @Field(() => AlertSnapshotType) snapshot!: AlertSnapshotType;
  @Field() message!: string;
  @Field() createdAt!: Date;
}

@ObjectType('WebhookEndpoint')
export class WebhookEndpointType {
  @Field(() => ID) id!: string;
  @Field() url!: string;
  @Field(() => WebhookFormatEnum) format!: WebhookFormatEnum;
  @Field() enabled!: boolean;
  @Field() createdAt!: Date;
}

@ObjectType('CreatedWebhookEndpoint')
export class CreatedWebhookEndpointType {
  @Field(() => WebhookEndpointType) endpoint!: WebhookEndpointType;
  @Field({ description: 'HMAC-SHA256 signing secret. Shown once.' }) secret!: string;
}

@ObjectType('WebhookDelivery')
export class WebhookDeliveryType {
  @Field(() => ID) id!: string;
  @Field(() => ID) endpointId!: string;
  @Field(() => ID, { nullable: true, description: 'Null for a test delivery.' }) alertId!: string | null;
  @Field({ description: 'PENDING, DELIVERED or FAILED.' }) status!: string;
  @Field(() => Int) attempts!: number;
  @Field() nextAttemptAt!: Date;
  @Field(() => Int, { nullable: true }) lastStatusCode!: number | null;
  @Field(() => String, { nullable: true }) lastError!: string | null;
  @Field(() => Date, { nullable: true }) deliveredAt!: Date | null;
  @Field(() => GraphQLJSON) payload!: Record<string, unknown>;
  @Field() createdAt!: Date;
}

@InputType()
export class AddWebhookInput {
  @Field() url!: string;
  @Field(() => WebhookFormatEnum, { defaultValue: WebhookFormatEnum.JSON }) format!: WebhookFormatEnum;
}

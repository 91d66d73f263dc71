import { GraphQLJSON } from 'graphql-scalars';
import {
  createUnionType,
  Field,
  Float,
  ID,
  InputType,
  Int,
  ObjectType,
  registerEnumType,
} from 'type-graphql';
import type { Pico } from '../../shared/money';
import { USDScalar } from '../../shared/scalars';
import { AlertSeverity, AlertType } from './alert.entity';
import { WebhookFormat } from './webhook-endpoint.entity';

registerEnumType(AlertType, { name: 'AlertType' });
registerEnumType(AlertSeverity, { name: 'Severity' });
registerEnumType(WebhookFormat, { name: 'WebhookFormat' });

@ObjectType('BudgetAlertSnapshot', {
  description: "A budget alert's figures at the moment it fired (the budget's current period).",
})
export class BudgetAlertSnapshotType {
  @Field(() => USDScalar) spent!: Pico;
  @Field(() => USDScalar, { description: 'Worst-case cost of calls then in flight.' }) reserved!: Pico;
  @Field(() => USDScalar) limit!: Pico;
  @Field(() => USDScalar, { description: 'limit - spent - reserved, never below 0.' }) remaining!: Pico;
  @Field(() => USDScalar, { description: 'Spend projected at the end of the period.' }) projected!: Pico;
  @Field(() => Float, { description: 'spent / limit.' }) utilization!: number;
  @Field(() => Int) promptTokens!: number;
  @Field(() => Int) completionTokens!: number;
  @Field(() => Int) requests!: number;
}

@ObjectType('CircuitAlertSnapshot', { description: "A CIRCUIT_OPEN alert's circuit, as it opened." })
export class CircuitAlertSnapshotType {
  @Field() provider!: string;
  @Field() model!: string;
  @Field(() => Int, { description: 'Consecutive failures that opened it.' }) failures!: number;
  @Field() openedAt!: Date;
  @Field({ description: 'When it lets its next probe through.' }) retryAt!: Date;
}

@ObjectType('ReservationAlertSnapshot', {
  description: "A RESERVATION_EXCEEDED alert's call: the upstream billed it more than it held.",
})
export class ReservationAlertSnapshotType {
  @Field() model!: string;
  @Field() requestId!: string;
  @Field(() => USDScalar, { description: 'What the call held.' }) reserved!: Pico;
  @Field(() => USDScalar, { description: 'What it was charged.' }) charged!: Pico;
  @Field(() => Int, { description: 'Prompt tokens by our tokenizer.' }) promptEstimate!: number;
}

export const AlertSnapshotUnion = createUnionType({
  name: 'AlertSnapshot',
  description: 'What the alert saw when it fired, by its type: budget figures, a circuit, or a call.',
  types: () => [BudgetAlertSnapshotType, CircuitAlertSnapshotType, ReservationAlertSnapshotType] as const,
});
export type AlertSnapshotType =
  BudgetAlertSnapshotType | CircuitAlertSnapshotType | ReservationAlertSnapshotType;

@ObjectType('Alert')
export class AlertObjectType {
  @Field(() => ID) id!: string;
  @Field(() => AlertType) type!: AlertType;
  @Field(() => AlertSeverity) severity!: AlertSeverity;
  @Field(() => ID, { nullable: true }) budgetId!: string | null;
  @Field(() => Date, { nullable: true }) periodStart!: Date | null;
  @Field(() => Float, { nullable: true }) threshold!: number | null;
  @Field(() => Float) utilization!: number;
  @Field(() => AlertSnapshotUnion) snapshot!: AlertSnapshotType;
  @Field() message!: string;
  @Field() createdAt!: Date;
}

@ObjectType('WebhookEndpoint')
export class WebhookEndpointType {
  @Field(() => ID) id!: string;
  @Field() url!: string;
  @Field(() => WebhookFormat) format!: WebhookFormat;
  @Field() enabled!: boolean;
  @Field() createdAt!: Date;
  @Field(() => String, {
    nullable: true,
    description:
      'The configuration file that owns this endpoint (edits through the API are refused); null: the API does.',
  })
  managedBy!: string | null;
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
  @Field(() => WebhookFormat, { defaultValue: WebhookFormat.JSON }) format!: WebhookFormat;
}

import { Arg, Authorized, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { DataSource } from 'typeorm';
import { BadInputError, NotFoundError } from '../../shared/errors';
import { parseUsd } from '../../shared/money';
import { CurrentKey, requireProjectKey, Role } from '../projects/access';
import type { KeyPrincipal } from '../projects/auth.service';
import type { Context } from '../projects/request-context';
import { Alert, AlertSeverity, BudgetSnapshot, CircuitSnapshot, ReservationSnapshot } from './alert.entity';
import type { AlertService } from './alert.service';
import {
  AddWebhookInput,
  AlertObjectType,
  BudgetAlertSnapshotType,
  CircuitAlertSnapshotType,
  CreatedWebhookEndpointType,
  ReservationAlertSnapshotType,
  WebhookDeliveryType,
  WebhookEndpointType,
  type AlertSnapshotType,
} from './alert.types';
import type { WebhookDelivery } from './webhook-delivery.entity';
import type { WebhookEndpoint } from './webhook-endpoint.entity';
import type { WebhookService } from './webhook.service';
import type { WebhookWorker } from './webhook.worker';

@Resolver()
export class AlertResolver {
  constructor(
    private readonly db: DataSource,
    private readonly alertService: AlertService,
    private readonly webhooks: WebhookService,
    private readonly worker: WebhookWorker,
  ) {}

  @Authorized(Role.PROJECT)
  @Query(() => [AlertObjectType], { description: 'Alert history, newest first.' })
  async alerts(
    @CurrentKey() who: KeyPrincipal,
    @Arg('days', () => Int, { defaultValue: 7 }) days: number,
    @Arg('severity', () => AlertSeverity, { nullable: true }) severity?: AlertSeverity | null,
  ): Promise<AlertObjectType[]> {
    if (!Number.isInteger(days) || days < 1 || days > 366)
      throw new BadInputError('days must be 1 to 366', 'days');
    return (await this.alertService.list(who.projectId, days, severity)).map(alertView);
  }

  @Authorized(Role.PROJECT)
  @Subscription(() => AlertObjectType, {
    name: 'alerts',
    description: "Alerts of the subscriber's project as they fire.",
    topics: 'alert',
    // The subscription is made before any resolver runs: it checks its caller itself.
    topicId: ({ context }) => requireProjectKey(context as Context).projectId,
  })
  async alertFired(@Root() event: { projectId: string; alertId: string }): Promise<AlertObjectType> {
    const alert = await this.db
      .getRepository(Alert)
      .findOne({ where: { id: event.alertId, projectId: event.projectId } });
    if (!alert) throw new NotFoundError('Alert');
    return alertView(alert);
  }

  @Authorized(Role.ADMIN)
  @Query(() => [WebhookEndpointType])
  async webhookEndpoints(@CurrentKey() who: KeyPrincipal): Promise<WebhookEndpointType[]> {
    return (await this.webhooks.list(who.projectId)).map(endpointView);
  }

  @Authorized(Role.ADMIN)
  @Query(() => [WebhookDeliveryType], {
    description: 'Deliveries, newest first, with status and last error.',
  })
  async webhookDeliveries(
    @CurrentKey() who: KeyPrincipal,
    @Arg('endpointId', () => ID, { nullable: true }) endpointId?: string | null,
  ): Promise<WebhookDeliveryType[]> {
    return (await this.webhooks.deliveries(who.projectId, endpointId)).map(deliveryView);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => CreatedWebhookEndpointType)
  async addWebhookEndpoint(
    @CurrentKey() who: KeyPrincipal,
    @Arg('input') input: AddWebhookInput,
  ): Promise<CreatedWebhookEndpointType> {
    const { endpoint, secret } = await this.webhooks.add(who.projectId, input.url, input.format);
    return { endpoint: endpointView(endpoint), secret };
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => Boolean)
  removeWebhookEndpoint(@CurrentKey() who: KeyPrincipal, @Arg('id', () => ID) id: string): Promise<boolean> {
    return this.webhooks.remove(who.projectId, id);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookEndpointType)
  async setWebhookEndpointEnabled(
    @CurrentKey() who: KeyPrincipal,
    @Arg('id', () => ID) id: string,
    @Arg('enabled') enabled: boolean,
  ): Promise<WebhookEndpointType> {
    return endpointView(await this.webhooks.setEnabled(who.projectId, id, enabled));
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => WebhookDeliveryType, { description: 'Queues a signed sample alert to the endpoint.' })
  async testWebhook(
    @CurrentKey() who: KeyPrincipal,
    @Arg('id', () => ID) id: string,
  ): Promise<WebhookDeliveryType> {
    const delivery = await this.webhooks.test(who.projectId, id);
    this.worker.nudge();
    return deliveryView(delivery);
  }
}

function alertView(a: Alert): AlertObjectType {
  return {
    id: a.id,
    type: a.type,
    severity: a.severity,
    budgetId: a.budgetId,
    periodStart: a.periodStart,
    threshold: a.threshold,
    utilization: a.utilization,
    snapshot: snapshotView(a),
    message: a.message,
    createdAt: a.createdAt,
  };
}

/** The stored snapshot JSON, read by the shape its alert's type writes, money as USD. */
function snapshotView(a: Pick<Alert, 'type' | 'snapshot'>): AlertSnapshotType {
  switch (a.type) {
    case 'BUDGET_THRESHOLD':
    case 'DAILY_BUDGET_EXCEEDED':
    case 'MONTHLY_BUDGET_EXCEEDED':
    case 'PROJECTED_OVERRUN': {
      const s = BudgetSnapshot.parse(a.snapshot);
      return Object.assign(new BudgetAlertSnapshotType(), {
        spent: parseUsd(s.spent),
        reserved: parseUsd(s.reserved),
        limit: parseUsd(s.limit),
        remaining: parseUsd(s.remaining),
        projected: parseUsd(s.projected),
        utilization: s.utilization,
        promptTokens: s.promptTokens,
        completionTokens: s.completionTokens,
        requests: s.requests,
      } satisfies BudgetAlertSnapshotType);
    }
    case 'CIRCUIT_OPEN': {
      const s = CircuitSnapshot.parse(a.snapshot);
      return Object.assign(new CircuitAlertSnapshotType(), {
        provider: s.provider,
        model: s.model,
        failures: s.failures,
        openedAt: new Date(s.openedAt),
        retryAt: new Date(s.retryAt),
      } satisfies CircuitAlertSnapshotType);
    }
    case 'RESERVATION_EXCEEDED': {
      const s = ReservationSnapshot.parse(a.snapshot);
      return Object.assign(new ReservationAlertSnapshotType(), {
        model: s.model,
        requestId: s.requestId,
        reserved: parseUsd(s.reserved),
        charged: parseUsd(s.charged),
        promptEstimate: s.promptEstimate,
      } satisfies ReservationAlertSnapshotType);
    }
  }
}

/** An endpoint as GraphQL shows it: never its secret. */
function endpointView(e: WebhookEndpoint): WebhookEndpointType {
  return {
    id: e.id,
    url: e.url,
    format: e.format,
    enabled: e.enabled,
    createdAt: e.createdAt,
    managedBy: e.managedBy ?? null,
  };
}

function deliveryView(d: WebhookDelivery): WebhookDeliveryType {
  return {
    id: d.id,
    endpointId: d.endpointId,
    alertId: d.alertId,
    status: d.status,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    deliveredAt: d.deliveredAt,
    payload: d.payload,
    createdAt: d.createdAt,
  };
}

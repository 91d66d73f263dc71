import { Arg, Ctx, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { DataSource } from 'typeorm';
import type { Context } from '../projects/request-context';
import { BadInputError, NotFoundError } from '../../shared/errors';
import { requireProjectKey } from '../projects/auth.service';
import { Alert } from './alert.entity';
import type { AlertService } from './alert.service';
import {
  AddWebhookInput,
  AlertObjectType,
  CreatedWebhookEndpointType,
  SeverityEnum,
  WebhookDeliveryType,
  WebhookEndpointType,
} from './alert.types';
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

  @Query(() => [AlertObjectType], { description: 'Alert history, newest first.' })
  async alerts(
    @Ctx() ctx: Context,
    @Arg('days', () => Int, { defaultValue: 7 }) days: number,
    @Arg('severity', () => SeverityEnum, { nullable: true }) severity?: SeverityEnum | null,
  ): Promise<AlertObjectType[]> {
    const who = requireProjectKey(ctx);
    if (!Number.isInteger(days) || days < 1 || days > 366)
      throw new BadInputError('days must be 1 to 366', 'days');
    return (await this.alertService.list(who.projectId, days, severity)) as AlertObjectType[];
  }

  @Subscription(() => AlertObjectType, {
    name: 'alerts',
    description: "Alerts of the subscriber's project as they fire.",
    topics: 'alert',
    topicId: ({ context }) => requireProjectKey(context as Context).projectId,
  })
  async alertFired(@Root() event: { projectId: string; alertId: string }): Promise<AlertObjectType> {
    const alert = await this.db
      .getRepository(Alert)
      .findOne({ where: { id: event.alertId, projectId: event.projectId } });
    if (!alert) throw new NotFoundError('Alert');
    return alert as AlertObjectType;
  }

  @Query(() => [WebhookEndpointType])
  async webhookEndpoints(@Ctx() ctx: Context): Promise<WebhookEndpointType[]> {
    const who = requireProjectKey(ctx, true);
    return (await this.webhooks.list(who.projectId)) as WebhookEndpointType[];
  }

  @Query(() => [WebhookDeliveryType], {
    description: 'Deliveries, newest first, with status and last error.',
  })
  async webhookDeliveries(
    @Ctx() ctx: Context,
    @Arg('endpointId', () => ID, { nullable: true }) endpointId?: string | null,
  ): Promise<WebhookDeliveryType[]> {
    const who = requireProjectKey(ctx, true);
    return this.webhooks.deliveries(who.projectId, endpointId);
  }

  @Mutation(() => CreatedWebhookEndpointType)
  async addWebhookEndpoint(
    @Ctx() ctx: Context,
    @Arg('input') input: AddWebhookInput,
  ): Promise<CreatedWebhookEndpointType> {
    const who = requireProjectKey(ctx, true);
    const { endpoint, secret } = await this.webhooks.add(who.projectId, input.url, input.format);
    return { endpoint: endpoint as WebhookEndpointType, secret };
  }

  @Mutation(() => Boolean)
  removeWebhookEndpoint(@Ctx() ctx: Context, @Arg('id', () => ID) id: string): Promise<boolean> {
    const who = requireProjectKey(ctx, true);
    return this.webhooks.remove(who.projectId, id);
  }

  @Mutation(() => WebhookEndpointType)
  async setWebhookEndpointEnabled(
    @Ctx() ctx: Context,
    @Arg('id', () => ID) id: string,
    @Arg('enabled') enabled: boolean,
  ): Promise<WebhookEndpointType> {
    const who = requireProjectKey(ctx, true);
    return (await this.webhooks.setEnabled(who.projectId, id, enabled)) as WebhookEndpointType;
  }

  @Mutation(() => WebhookDeliveryType, { description: 'Queues a signed sample alert to the endpoint.' })
  async testWebhook(@Ctx() ctx: Context, @Arg('id', () => ID) id: string): Promise<WebhookDeliveryType> {
    const who = requireProjectKey(ctx, true);
    const delivery = await this.webhooks.test(who.projectId, id);
    this.worker.nudge();
    return delivery;
  }
}

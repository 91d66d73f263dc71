import crypto from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { BadInputError, NotFoundError } from '../../shared/errors';
import { assertOwner, type ChangeOptions } from '../../shared/managed';
import type { EgressPolicy } from '../../shared/egress';
import type { SecretBox } from '../../shared/secret-box';
import type { Alert } from './alert.entity';
import { WebhookDelivery } from './webhook-delivery.entity';
import { WebhookEndpoint, type WebhookFormat } from './webhook-endpoint.entity';

export const SIGNATURE_HEADER = 'x-tollgate-signature';
export const TIMESTAMP_HEADER = 'x-tollgate-timestamp';

/** HMAC-SHA256 over "timestamp.body", hex, as sent in `x-tollgate-signature: v1=<hex>`. */
export function sign(secret: string, timestamp: string, body: string): string {
  return `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The body a receiver gets for an alert, in the endpoint's format. */
export function formatAlert(
  alert: Pick<
    Alert,
    | 'id'
    | 'type'
    | 'severity'
    | 'threshold'
    | 'utilization'
    | 'createdAt'
    | 'message'
    | 'budgetId'
    | 'snapshot'
    | 'projectId'
  >,
  format: WebhookFormat,
): Record<string, unknown> {
  const time = new Date(alert.createdAt).toISOString();
  if (format === 'JSON') {
    return {
      id: alert.id,
      projectId: alert.projectId,
      type: alert.type,
      severity: alert.severity,
      budgetId: alert.budgetId,
      threshold: alert.threshold,
      utilization: alert.utilization,
      message: alert.message,
      snapshot: alert.snapshot,
      createdAt: time,
    };
  }
  const icon = alert.severity === 'CRITICAL' ? '🚨' : '⚠️';
  return {
    text: `Tollgate budget alert: ${alert.type}`,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `${icon} ${alert.type}` } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Severity:*\n${alert.severity}` },
          { type: 'mrkdwn', text: `*Threshold:*\n${alert.threshold ?? 'N/A'}` },
          { type: 'mrkdwn', text: `*Current Utilization:*\n${(alert.utilization * 100).toFixed(2)}%` },
          { type: 'mrkdwn', text: `*Timestamp:*\n${time}` },
        ],
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: alert.message }] },
    ],
  };
}

/** An endpoint as a configuration file makes it: its owner, its name in the file, its secret if given. */
export interface EndpointOptions extends ChangeOptions {
  configKey?: string;
  /** The signing secret; absent: generated. */
  secret?: string;
}

/** What a configuration file may change of an endpoint it owns. */
export interface EndpointChanges {
  url: string;
  format: WebhookFormat;
  enabled: boolean;
  /** A new signing secret; absent: kept. */
  secret?: string;
}

/** An http(s) URL of at most 2,000 characters, trimmed (where it may point is the egress policy's). Pure. */
export function checkWebhookUrl(url: string): string {
  const clean = url.trim();
  let parsed: URL;
  try {
    parsed = new URL(clean);
  } catch {
    throw new BadInputError('url must be an http(s) URL', 'url');
  }
  if (!['http:', 'https:'].includes(parsed.protocol) || clean.length > 2000) {
    throw new BadInputError('url must be an http(s) URL', 'url');
  }
  return clean;
}

export class WebhookService {
  constructor(
    private readonly db: DataSource,
    private readonly secrets: SecretBox,
    /** Where deliveries may go: checked here on address literals, and by the worker on every connection. */
    private readonly egress: EgressPolicy,
  ) {}

  async add(
    projectId: string,
    url: string,
    format: WebhookFormat,
    options: EndpointOptions = {},
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const clean = this.checkUrl(url);
    const secret = options.secret ?? `whsec_${crypto.randomBytes(24).toString('base64url')}`;
    const repo = this.db.getRepository(WebhookEndpoint);
    const endpoint = await repo.save(
      repo.create({
        projectId,
        url: clean,
        format,
        secretEncrypted: this.secrets.seal(checkWebhookSecret(secret)),
        enabled: true,
        managedBy: options.owner ?? null,
        configKey: options.configKey ?? null,
      }),
    );
    return { endpoint, secret };
  }

  /** A configuration file's edit of an endpoint it owns (or takes over): URL, format, enabled, secret. */
  async update(
    projectId: string,
    id: string,
    changes: EndpointChanges,
    options: EndpointOptions = {},
  ): Promise<WebhookEndpoint> {
    const repo = this.db.getRepository(WebhookEndpoint);
    const endpoint = await repo.findOne({ where: { id, projectId } });
    if (!endpoint) throw new NotFoundError('Webhook endpoint');
    assertOwner(`Webhook endpoint "${endpoint.configKey ?? endpoint.url}"`, endpoint.managedBy, options);
    return repo.save({
      ...endpoint,
      url: this.checkUrl(changes.url),
      format: changes.format,
      enabled: changes.enabled,
      ...(changes.secret === undefined
        ? {}
        : { secretEncrypted: this.secrets.seal(checkWebhookSecret(changes.secret)) }),
      managedBy: options.owner ?? null,
      configKey: options.owner ? (options.configKey ?? endpoint.configKey) : null,
    });
  }

  /** checkWebhookUrl, then the operator's egress policy on an address literal. */
  checkUrl(url: string): string {
    const clean = checkWebhookUrl(url);
    const refused = this.egress.refusesUrl(new URL(clean));
    if (refused) throw new BadInputError(`url: ${refused}`, 'url');
    return clean;
  }

  list(projectId: string): Promise<WebhookEndpoint[]> {
    return this.db.getRepository(WebhookEndpoint).find({ where: { projectId }, order: { createdAt: 'ASC' } });
  }

  async remove(projectId: string, id: string, options: ChangeOptions = {}): Promise<boolean> {
    const repo = this.db.getRepository(WebhookEndpoint);
    const endpoint = await repo.findOne({ where: { id, projectId } });
    if (!endpoint) throw new NotFoundError('Webhook endpoint');
    assertOwner(`Webhook endpoint "${endpoint.configKey ?? endpoint.url}"`, endpoint.managedBy, options);
    await repo.delete({ id: endpoint.id });
    return true;
  }

  async setEnabled(
    projectId: string,
    id: string,
    enabled: boolean,
    options: ChangeOptions = {},
  ): Promise<WebhookEndpoint> {
    const repo = this.db.getRepository(WebhookEndpoint);
    const endpoint = await repo.findOne({ where: { id, projectId } });
    if (!endpoint) throw new NotFoundError('Webhook endpoint');
    assertOwner(`Webhook endpoint "${endpoint.configKey ?? endpoint.url}"`, endpoint.managedBy, options);
    endpoint.enabled = enabled;
    return repo.save(endpoint);
  }

  /** Queues a sample alert to one endpoint; the worker delivers it like any other. */
  async test(projectId: string, id: string): Promise<WebhookDelivery> {
    const endpoint = await this.db.getRepository(WebhookEndpoint).findOne({ where: { id, projectId } });
    if (!endpoint) throw new NotFoundError('Webhook endpoint');
    const sample = {
      id: '00000000-0000-0000-0000-000000000000',
      projectId,
      type: 'BUDGET_THRESHOLD' as const,
      severity: 'WARNING' as const,
      budgetId: null,
      threshold: 0.5,
      utilization: 0.5,
      message: 'Test delivery from Tollgate',
      snapshot: {
        spent: '5',
        reserved: '0',
        limit: '10',
        remaining: '5',
        projected: '10',
        utilization: 0.5,
        promptTokens: 0,
        completionTokens: 0,
        requests: 0,
      },
      createdAt: new Date(),
    };
    const repo = this.db.getRepository(WebhookDelivery);
    return repo.save(
      repo.create({
        projectId,
        endpointId: endpoint.id,
        alertId: null,
        payload: formatAlert(sample, endpoint.format),
        nextAttemptAt: new Date(),
      }),
    );
  }

  deliveries(projectId: string, endpointId?: string | null, limit = 100): Promise<WebhookDelivery[]> {
    return this.db.getRepository(WebhookDelivery).find({
      where: endpointId ? { projectId, endpointId } : { projectId },
      order: { createdAt: 'DESC' },
      take: limit,
    });
  }

  /** The outbox write: one delivery per enabled endpoint, in the alert's own transaction. */
  async enqueue(em: EntityManager, alert: Alert): Promise<void> {
    const endpoints = await em
      .getRepository(WebhookEndpoint)
      .find({ where: { projectId: alert.projectId, enabled: true } });
    if (endpoints.length === 0) return;
    const repo = em.getRepository(WebhookDelivery);
    await repo.save(
      endpoints.map((endpoint) =>
        repo.create({
          projectId: alert.projectId,
          endpointId: endpoint.id,
          alertId: alert.id,
          payload: formatAlert(alert, endpoint.format),
          nextAttemptAt: new Date(),
        }),
      ),
      { reload: false },
    );
  }

  openSecret(endpoint: WebhookEndpoint): string {
    return this.secrets.open(endpoint.secretEncrypted);
  }
}

/** A signing secret given by a configuration file: long enough to sign with. Pure. */
export function checkWebhookSecret(secret: string): string {
  if (secret.length < 16 || secret.length > 500) {
    throw new BadInputError('a webhook secret must be 16 to 500 characters', 'secret');
  }
  return secret;
}

import { Alert } from '../modules/alerts/alert.entity';
import { WebhookDelivery } from '../modules/alerts/webhook-delivery.entity';
import { WebhookEndpoint } from '../modules/alerts/webhook-endpoint.entity';
import { BudgetCounter } from '../modules/budgets/budget-counter.entity';
import { Budget } from '../modules/budgets/budget.entity';
import { Reservation } from '../modules/budgets/reservation.entity';
import { IdempotencyRecord } from '../modules/completions/idempotency-record.entity';
import { ApiKey } from '../modules/projects/api-key.entity';
import { Project } from '../modules/projects/project.entity';
import { Model } from '../modules/providers/model.entity';
import { Provider } from '../modules/providers/provider.entity';
import { UsageRecord } from '../modules/usage/usage-record.entity';

export const ENTITIES = [
  Project,
  ApiKey,
  Provider,
  Model,
  Budget,
  BudgetCounter,
  Reservation,
  UsageRecord,
  Alert,
  WebhookEndpoint,
  WebhookDelivery,
  IdempotencyRecord,
];

import { LRUCache } from 'lru-cache';
import type { DataSource, EntityManager } from 'typeorm';
import type { Logger } from '../../shared/logger';
import { formatUsd, maxPico, ratio, type Pico } from '../../shared/money';
import {
  applicableOf,
  counterOf,
  type BudgetCounterState,
  type BudgetRow,
  type CounterRow,
} from '../budgets/counters';
import type { MetricsPublisher } from '../budgets/metrics.publisher';
import { windowAt } from '../budgets/period';
import { project } from '../budgets/projection';
import type { EventBus } from '../events/event-bus';
import {
  Alert,
  type AlertSeverity,
  type AlertSnapshot,
  type AlertType,
  type BudgetSnapshot,
} from './alert.entity';
import type { WebhookService } from './webhook.service';
import type { WebhookWorker } from './webhook.worker';

interface NewAlert {
  budgetId: string | null;
  periodStart: Date | null;
  type: AlertType;
  severity: AlertSeverity;
  threshold: number | null;
  utilization: number;
  snapshot: AlertSnapshot;
  dedupeKey: string;
  message: string;
}

export const severityOf = (threshold: number): AlertSeverity => (threshold >= 0.9 ? 'CRITICAL' : 'WARNING');

/** What announcing needs: the live bus, the webhook worker to wake, the coalesced metrics. */
export interface AnnounceDeps {
  bus: EventBus;
  worker: WebhookWorker;
  metrics: MetricsPublisher;
  log: Logger;
}

/**
 * Alert rules and the alerts they write. Each rule fires when a settle crosses its mark, and the
 * unique (project, dedupe key) index makes every insert after the first a no-op, across instances.
 * Counter updates are serialized by the row lock, so the first insert is made by the settle that
 * crossed the threshold. A mark passed without a crossing (a limit lowered or a threshold added
 * mid-period), or one whose settle committed but whose alert write did not (a crash between), is
 * fired by `sweep`, which re-runs the rules on recently changed counters.
 */
export class AlertService {
  /** Dedupe keys known to exist, so a rule that stays true does not re-insert on every call. */
  private readonly fired = new LRUCache<string, true>({ max: 100_000 });

  constructor(
    private readonly db: DataSource,
    private readonly webhooks: WebhookService,
    private readonly out: AnnounceDeps,
  ) {}

  /**
   * Fires whatever a settle's `counters` crossed, outside its transaction (the hot path settles in
   * one statement): most settles fire nothing and touch nothing; when something is due, one
   * transaction writes the alerts and their webhook outbox rows. Returns the alerts created.
   */
  async fire(projectId: string, counters: BudgetCounterState[], now: Date, added?: Pico): Promise<Alert[]> {
    const known = (dedupeKey: string) => this.fired.has(`${projectId}:${dedupeKey}`);
    const due = counters.flatMap((counter) => this.rules(counter, now, known, added));
    if (due.length === 0) return [];
    const created = await this.db.transaction(async (em) => {
      const made: Alert[] = [];
      for (const candidate of due) {
        const alert = await this.insert(em, projectId, candidate);
        if (alert) made.push(alert);
      }
      return made;
    });
    for (const candidate of due) this.remember(`${projectId}:${candidate.dedupeKey}`);
    return created;
  }

  /**
   * Re-runs the budget rules on counters that changed recently, so an alert whose settle
   * committed but whose alert write never happened (the process died between) still fires, once.
   */
  async sweep(sinceMs: number, now = new Date()): Promise<Alert[]> {
    const rows: (BudgetRow & CounterRow & { project_id: string; period_start: Date })[] = await this.db.query(
      `SELECT b.project_id, b.id, b.api_key_id, b.period, b.policy, b.limit_usd::text AS limit_usd,
              b.thresholds, b.time_zone, c.period_start, c.spent::text AS spent, c.reserved::text AS reserved,
              c.prompt_tokens, c.completion_tokens, c.requests
         FROM budget_counters c JOIN budgets b ON b.id = c.budget_id
        WHERE c.updated_at > now() - $1 * interval '1 millisecond'`,
      [sinceMs],
    );
    const created: Alert[] = [];
    for (const row of rows) {
      const periodStart = new Date(row.period_start);
      const window = { start: periodStart, end: windowAt(periodStart, row.period, row.time_zone).end };
      const counter = counterOf(applicableOf(row, window), row);
      const alerts = await this.fire(row.project_id, [counter], now);
      this.announce(row.project_id, alerts);
      created.push(...alerts);
    }
    return created;
  }

  /** Records an alert that is not about a budget (e.g. CIRCUIT_OPEN), in its own transaction. */
  async raise(projectId: string, alert: NewAlert): Promise<Alert | null> {
    return this.db.transaction((em) => this.insert(em, projectId, alert));
  }

  /**
   * The upstream billed a call more than it held (it counted more prompt tokens than our estimate
   * and the model's margin): one alert per reservation.
   */
  reservationExceeded(
    projectId: string,
    call: {
      reservationId: string;
      requestId: string;
      model: string;
      reserved: Pico;
      charged: Pico;
      promptEstimate: number;
    },
  ): Promise<Alert | null> {
    return this.raise(projectId, {
      budgetId: null,
      periodStart: null,
      type: 'RESERVATION_EXCEEDED',
      severity: 'WARNING',
      threshold: null,
      utilization: 0,
      snapshot: {
        model: call.model,
        requestId: call.requestId,
        reserved: formatUsd(call.reserved),
        charged: formatUsd(call.charged),
        promptEstimate: call.promptEstimate,
      },
      dedupeKey: `RESERVATION_EXCEEDED:${call.reservationId}`,
      message:
        `Call ${call.requestId} on ${call.model} was billed $${formatUsd(call.charged)}, ` +
        `more than the $${formatUsd(call.reserved)} it reserved: the upstream counted more prompt tokens than estimated`,
    });
  }

  /**
   * Tells the world what a change did: each new alert to its project's subscribers (on every
   * instance), the webhook worker that deliveries are due, and, when budgets moved, the coalesced
   * budget metrics. Every caller that may create alerts announces through here.
   */
  announce(projectId: string, alerts: readonly Alert[], budgetsChanged = false): void {
    if (budgetsChanged) this.out.metrics.touch(projectId);
    for (const alert of alerts) this.out.bus.publish('alert', { projectId, alertId: alert.id });
    if (alerts.length > 0) this.out.worker.nudge();
  }

  list(projectId: string, days: number, severity?: AlertSeverity | null, limit = 200): Promise<Alert[]> {
    const qb = this.db
      .getRepository(Alert)
      .createQueryBuilder('a')
      .where('a.project_id = :projectId', { projectId })
      .andWhere('a.created_at >= :since', { since: new Date(Date.now() - days * 86_400_000) })
      .orderBy('a.created_at', 'DESC')
      .limit(limit);
    if (severity) qb.andWhere('a.severity = :severity', { severity });
    return qb.getMany();
  }

  /**
   * The alerts `counter` is at or past. With `added` (what the settle just charged), only marks
   * that this very settle crossed count: exactly one settle crosses each (they are serialized by
   * the counter's lock), so its snapshot is the crossing one, even with settles racing on other
   * instances. Marks passed without a crossing (a limit lowered, a threshold added) are the sweep's.
   * A mark whose alert is `known` to exist is left out before anything is built for it: a projected
   * overrun stays due on every settle of its window once it is.
   */
  private rules(
    counter: BudgetCounterState,
    now: Date,
    known: (dedupeKey: string) => boolean,
    added?: Pico,
  ): NewAlert[] {
    const { budget, spent } = counter;
    const reached = (mark: Pico) =>
      spent > 0n && spent >= mark && (added === undefined || spent - added < mark);
    const limit = budget.limit;
    const dedupeKeyOf = (key: string) => `${budget.id}:${budget.periodStart.toISOString()}:${key}`;
    type Due = Pick<NewAlert, 'type' | 'severity' | 'threshold'> & { key: string; message: () => string };
    const due: Due[] = [];
    const add = (alert: Due) => {
      if (!known(dedupeKeyOf(alert.key))) due.push(alert);
    };
    for (const threshold of budget.thresholds) {
      if (!reached(fractionOf(limit, threshold))) continue;
      add({
        type: 'BUDGET_THRESHOLD',
        severity: severityOf(threshold),
        threshold,
        key: `BUDGET_THRESHOLD:${threshold}`,
        message: () =>
          `${budget.period} budget reached ${Math.round(threshold * 100)}% ($${formatUsd(spent)} of $${formatUsd(limit)})`,
      });
    }
    if (reached(limit)) {
      const type = budget.period === 'DAILY' ? 'DAILY_BUDGET_EXCEEDED' : 'MONTHLY_BUDGET_EXCEEDED';
      add({
        type,
        severity: 'CRITICAL',
        threshold: 1,
        key: type,
        message: () => `${budget.period} budget exhausted ($${formatUsd(spent)} of $${formatUsd(limit)})`,
      });
    }
    const { projected } = project(spent, { start: budget.periodStart, end: budget.periodEnd }, now);
    if (projected > limit) {
      add({
        type: 'PROJECTED_OVERRUN',
        severity: 'WARNING',
        threshold: null,
        key: 'PROJECTED_OVERRUN',
        message: () =>
          `${budget.period} spend projected at $${formatUsd(projected)} against a limit of $${formatUsd(limit)}`,
      });
    }
    // Most settles cross nothing new: the snapshot (money formatted as text) is built only for an alert.
    if (due.length === 0) return [];
    const utilization = ratio(spent, limit);
    const snapshot: BudgetSnapshot = {
      spent: formatUsd(spent),
      reserved: formatUsd(counter.reserved),
      limit: formatUsd(limit),
      remaining: formatUsd(maxPico(limit - spent - counter.reserved, 0n)),
      projected: formatUsd(projected),
      utilization,
      promptTokens: counter.promptTokens,
      completionTokens: counter.completionTokens,
      requests: counter.requests,
    };
    return due.map(({ key, message, ...alert }) => ({
      ...alert,
      budgetId: budget.id,
      periodStart: budget.periodStart,
      utilization,
      snapshot,
      dedupeKey: dedupeKeyOf(key),
      message: message(),
    }));
  }

  private async insert(em: EntityManager, projectId: string, a: NewAlert): Promise<Alert | null> {
    const rows: Record<string, unknown>[] = await em.query(
      `INSERT INTO alerts (project_id, budget_id, period_start, type, severity, threshold, utilization, snapshot, dedupe_key, message)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (project_id, dedupe_key) DO NOTHING RETURNING id, created_at`,
      [
        projectId,
        a.budgetId,
        a.periodStart,
        a.type,
        a.severity,
        a.threshold,
        a.utilization,
        JSON.stringify(a.snapshot),
        a.dedupeKey,
        a.message,
      ],
    );
    const [row] = rows;
    if (!row) return null;
    const alert = Object.assign(new Alert(), {
      ...a,
      id: row.id as string,
      projectId,
      createdAt: row.created_at as Date,
    });
    await this.webhooks.enqueue(em, alert);
    return alert;
  }

  private remember(key: string): void {
    this.fired.set(key, true);
  }
}

/** threshold x limit, exact to a millionth of the threshold. */
function fractionOf(limit: Pico, threshold: number): Pico {
  return (limit * BigInt(Math.round(threshold * 1_000_000))) / 1_000_000n;
}

import type { DataSource, EntityManager } from 'typeorm';
import { formatUsd, maxPico, ratio, type Pico } from '../../shared/money';
import type { SettledCounter } from '../budgets/reservation.service';
import { project } from '../budgets/projection';
import { Alert, type AlertSeverity, type AlertSnapshot, type AlertType } from './alert.entity';
import type { WebhookService } from './webhook.service';

interface NewAlert {
  budgetId: string | null;
  periodStart: Date | null;
  type: AlertType;
  severity: AlertSeverity;
  threshold: number | null;
  utilization: number;
  snapshot: AlertSnapshot | Record<string, unknown>;
  dedupeKey: string;
  message: string;
}

export const severityOf = (threshold: number): AlertSeverity => (threshold >= 0.9 ? 'CRITICAL' : 'WARNING');

/**
 * Alert rules, run inside the settle transaction. A rule fires while it holds (spend at or past a
 * threshold), and the unique (project, dedupe key) index makes every insert after the first a
 * no-op, across instances. Counter updates are serialized by the row lock, so the first insert is
 * made by the settle that crossed the threshold; and a threshold passed without a crossing (a limit
 * lowered or a threshold added mid-period) still fires, once, at the next settle.
 */
export class AlertService {
  /** Dedupe keys known to exist, so a rule that stays true does not re-insert on every call. */
  private readonly fired = new Set<string>();

  constructor(
    private readonly db: DataSource,
    private readonly webhooks: WebhookService,
  ) {}

  /** Fires whatever `counters` crossed; returns the alerts actually created (for publishing after commit). */
  async evaluate(
    em: EntityManager,
    projectId: string,
    counters: SettledCounter[],
    now: Date,
  ): Promise<Alert[]> {
    const candidates: NewAlert[] = [];
    for (const counter of counters) candidates.push(...this.rules(counter, now));
    const created: Alert[] = [];
    for (const candidate of candidates) {
      if (this.fired.has(`${projectId}:${candidate.dedupeKey}`)) continue;
      const alert = await this.insert(em, projectId, candidate);
      // Remember only keys that were already there: a key inserted now could still roll back.
      if (alert) created.push(alert);
      else this.remember(`${projectId}:${candidate.dedupeKey}`);
    }
    return created;
  }

  /** Records an alert that is not about a budget (e.g. CIRCUIT_OPEN), in its own transaction. */
  async raise(projectId: string, alert: NewAlert): Promise<Alert | null> {
    return this.db.transaction((em) => this.insert(em, projectId, alert));
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

  private rules(counter: SettledCounter, now: Date): NewAlert[] {
    const { budget, spent } = counter;
    const period = budget.periodStart.toISOString();
    const limit = budget.limit;
    const utilization = ratio(spent, limit);
    const projection = project(spent, { start: budget.periodStart, end: budget.periodEnd }, now);
    const snapshot: AlertSnapshot = {
      spent: formatUsd(spent),
      reserved: formatUsd(counter.reserved),
      limit: formatUsd(limit),
      remaining: formatUsd(maxPico(limit - spent - counter.reserved, 0n)),
      projected: formatUsd(projection.projected),
      utilization,
      promptTokens: counter.promptTokens,
      completionTokens: counter.completionTokens,
      requests: counter.requests,
    };
    const base = { budgetId: budget.id, periodStart: budget.periodStart, utilization, snapshot };
    const alerts: NewAlert[] = [];
    for (const threshold of budget.thresholds) {
      const mark = fractionOf(limit, threshold);
      if (spent > 0n && spent >= mark) {
        alerts.push({
          ...base,
          type: 'BUDGET_THRESHOLD',
          severity: severityOf(threshold),
          threshold,
          dedupeKey: `${budget.id}:${period}:BUDGET_THRESHOLD:${threshold}`,
          message: `${budget.period} budget reached ${Math.round(threshold * 100)}% ($${formatUsd(spent)} of $${formatUsd(limit)})`,
        });
      }
    }
    if (spent >= limit) {
      const type = budget.period === 'DAILY' ? 'DAILY_BUDGET_EXCEEDED' : 'MONTHLY_BUDGET_EXCEEDED';
      alerts.push({
        ...base,
        type,
        severity: 'CRITICAL',
        threshold: 1,
        dedupeKey: `${budget.id}:${period}:${type}`,
        message: `${budget.period} budget exhausted ($${formatUsd(spent)} of $${formatUsd(limit)})`,
      });
    }
    if (projection.projected > limit) {
      alerts.push({
        ...base,
        type: 'PROJECTED_OVERRUN',
        severity: 'WARNING',
        threshold: null,
        dedupeKey: `${budget.id}:${period}:PROJECTED_OVERRUN`,
        message: `${budget.period} spend projected at $${formatUsd(projection.projected)} against a limit of $${formatUsd(limit)}`,
      });
    }
    return alerts;
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
    if (rows.length === 0) return null;
    const alert = Object.assign(new Alert(), {
      ...a,
      id: rows[0].id as string,
      projectId,
      createdAt: rows[0].created_at as Date,
    });
    await this.webhooks.enqueue(em, alert);
    return alert;
  }

  private remember(key: string): void {
    if (this.fired.size > 100_000) this.fired.clear();
    this.fired.add(key);
  }
}

/** threshold x limit, exact to a millionth of the threshold. */
function fractionOf(limit: Pico, threshold: number): Pico {
  return (limit * BigInt(Math.round(threshold * 1_000_000))) / 1_000_000n;
}

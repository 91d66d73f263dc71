import type { DataSource } from 'typeorm';
import type { AlertService } from './modules/alerts/alert.service';
import type { MetricsPublisher } from './modules/budgets/metrics.publisher';
import type { ReservationService } from './modules/budgets/reservation.service';
import type { UsageStorage } from './modules/usage/usage-storage';
import type { Logger } from './shared/logger';

/**
 * The periodic clean-ups, in one place: the holds of calls that died (charged as ABANDONED, or
 * released), idempotency records past their 24 h, the alert rules re-run on recently changed
 * counters (a mark passed without a crossing, or an alert whose write a crash prevented), and the
 * usage records' upkeep (rollup rows folded, monthly partitions made ahead, old ones dropped past
 * the retention).
 */
export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly d: {
      db: DataSource;
      log: Logger;
      reservations: ReservationService;
      alerts: AlertService;
      metrics: MetricsPublisher;
      usage: UsageStorage;
      intervalMs: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.sweepOnce().finally(() => (this.running = undefined));
    }, this.d.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One round of every sweep; each failure is logged and the others still run. */
  async sweepOnce(): Promise<void> {
    const { log } = this.d;
    await this.d.reservations
      .sweepExpiredHolds()
      .then((swept) => {
        if (swept.abandoned + swept.released === 0) return;
        log.warn(swept, 'took the holds of calls that died');
        for (const projectId of swept.projects) this.d.metrics.touch(projectId);
      })
      .catch((error: unknown) => log.warn({ err: error }, 'hold sweep failed'));
    await this.d.db
      .query(`DELETE FROM idempotency_records WHERE expires_at < now()`)
      .catch((error: unknown) => log.warn({ err: error }, 'idempotency sweep failed'));
    await this.d.alerts
      .sweep(this.d.intervalMs * 3)
      .catch((error: unknown) => log.warn({ err: error }, 'alert sweep failed'));
    await this.sweepUsage();
  }

  /** Folds the rollups, makes next months' partitions, and drops the records past the retention. */
  private async sweepUsage(): Promise<void> {
    const { log, usage } = this.d;
    await usage.foldRollups().catch((error: unknown) => log.warn({ err: error }, 'rollup fold failed'));
    await usage
      .addPartitions()
      .then((made) => made.length > 0 && log.info({ partitions: made }, 'usage partitions made'))
      .catch((error: unknown) => log.warn({ err: error }, 'usage partitions could not be made'));
    await usage
      .dropExpiredRecords()
      .then((dropped) => dropped.length > 0 && log.info({ partitions: dropped }, 'usage partitions dropped'))
      .catch((error: unknown) => log.warn({ err: error }, 'usage retention failed'));
  }
}

import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { z } from 'zod';
import { numericNumberTransformer } from '../../shared/columns';

export const AlertType = {
  BUDGET_THRESHOLD: 'BUDGET_THRESHOLD',
  DAILY_BUDGET_EXCEEDED: 'DAILY_BUDGET_EXCEEDED',
  MONTHLY_BUDGET_EXCEEDED: 'MONTHLY_BUDGET_EXCEEDED',
  PROJECTED_OVERRUN: 'PROJECTED_OVERRUN',
  CIRCUIT_OPEN: 'CIRCUIT_OPEN',
  RESERVATION_EXCEEDED: 'RESERVATION_EXCEEDED',
} as const;
export type AlertType = (typeof AlertType)[keyof typeof AlertType];

export const AlertSeverity = { WARNING: 'WARNING', CRITICAL: 'CRITICAL' } as const;
export type AlertSeverity = (typeof AlertSeverity)[keyof typeof AlertSeverity];

/*
 * The `snapshot` column's JSON, one shape per kind of alert, money as decimal USD strings. The
 * writers build these types; readers parse the stored JSON with these schemas, chosen by the
 * alert's type.
 */

/** A budget alert (thresholds, exhausted, projected overrun): the budget counter's figures. */
export const BudgetSnapshot = z.object({
  spent: z.string(),
  reserved: z.string(),
  limit: z.string(),
  remaining: z.string(),
  projected: z.string(),
  utilization: z.number(),
  promptTokens: z.number(),
  completionTokens: z.number(),
  requests: z.number(),
});
export type BudgetSnapshot = z.infer<typeof BudgetSnapshot>;

/** CIRCUIT_OPEN: the circuit that opened (times as ISO strings). */
export const CircuitSnapshot = z.object({
  provider: z.string(),
  model: z.string(),
  failures: z.number(),
  openedAt: z.string(),
  retryAt: z.string(),
});
export type CircuitSnapshot = z.infer<typeof CircuitSnapshot>;

/** RESERVATION_EXCEEDED: the call that was billed more than it held. */
export const ReservationSnapshot = z.object({
  model: z.string(),
  requestId: z.string(),
  reserved: z.string(),
  charged: z.string(),
  promptEstimate: z.number(),
});
export type ReservationSnapshot = z.infer<typeof ReservationSnapshot>;

export type AlertSnapshot = BudgetSnapshot | CircuitSnapshot | ReservationSnapshot;

/**
 * A fired alert. `dedupeKey` (budget, period, type, threshold) is unique per project, so the
 * database itself guarantees each threshold fires once per period, across every instance.
 */
@Entity('alerts')
@Index(['projectId', 'dedupeKey'], { unique: true })
@Index(['projectId', 'createdAt'])
export class Alert {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @Column({ type: 'uuid', nullable: true })
  budgetId!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  periodStart!: Date | null;

  @Column({ type: 'varchar', length: 32 })
  type!: AlertType;

  @Column({ type: 'varchar', length: 16 })
  severity!: AlertSeverity;

  @Column({ type: 'numeric', precision: 8, scale: 6, nullable: true, transformer: numericNumberTransformer })
  threshold!: number | null;

  @Column({ type: 'double precision' })
  utilization!: number;

  @Column({ type: 'jsonb' })
  snapshot!: AlertSnapshot;

  @Column({ type: 'varchar', length: 300 })
  dedupeKey!: string;

  @Column({ type: 'varchar', length: 1000 })
  message!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}

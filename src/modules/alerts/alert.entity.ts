import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { numericNumberTransformer } from '../../shared/columns';

export type AlertType =
  | 'BUDGET_THRESHOLD'
  | 'DAILY_BUDGET_EXCEEDED'
  | 'MONTHLY_BUDGET_EXCEEDED'
  | 'PROJECTED_OVERRUN'
  | 'CIRCUIT_OPEN'
  | 'RESERVATION_EXCEEDED';
export type AlertSeverity = 'WARNING' | 'CRITICAL';

export interface AlertSnapshot {
  spent: string;
  reserved: string;
  limit: string;
  remaining: string;
  projected: string;
  utilization: number;
  promptTokens: number;
  completionTokens: number;
  requests: number;
}

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
  snapshot!: AlertSnapshot | Record<string, unknown>;

  @Column({ type: 'varchar', length: 300 })
  dedupeKey!: string;

  @Column({ type: 'varchar', length: 1000 })
  message!: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}

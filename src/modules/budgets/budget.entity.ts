import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { moneyTransformer } from '../../shared/columns';
import type { Pico } from '../../shared/money';
import { ApiKey } from '../projects/api-key.entity';
import { Project } from '../projects/project.entity';

/** The calendar window a budget counts over, in its time zone. */
export const BudgetPeriod = { DAILY: 'DAILY', MONTHLY: 'MONTHLY' } as const;
export type BudgetPeriod = (typeof BudgetPeriod)[keyof typeof BudgetPeriod];

/** What happens to a call that would exceed the budget. */
export const BudgetPolicy = { REJECT: 'REJECT', DOWNGRADE: 'DOWNGRADE' } as const;
export type BudgetPolicy = (typeof BudgetPolicy)[keyof typeof BudgetPolicy];

export const DEFAULT_THRESHOLDS = [0.5, 0.75, 0.9, 0.95];

/** A spend limit over a calendar window, for a whole project or one API key. */
@Entity('budgets')
@Index(['projectId', 'apiKeyId'])
export class Budget {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project?: Project;

  /** Null: the budget applies to the whole project. */
  @Column({ type: 'uuid', nullable: true })
  apiKeyId!: string | null;

  @ManyToOne(() => ApiKey, { onDelete: 'CASCADE' })
  apiKey?: ApiKey;

  @Column({ type: 'varchar', length: 16 })
  period!: BudgetPeriod;

  @Column({ type: 'numeric', precision: 30, scale: 12, transformer: moneyTransformer })
  limitUsd!: Pico;

  /** IANA zone whose calendar days and months make the windows. */
  @Column({ type: 'varchar', length: 64, default: 'UTC' })
  timeZone!: string;

  @Column({ type: 'jsonb' })
  thresholds!: number[];

  @Column({ type: 'varchar', length: 16, default: 'REJECT' })
  policy!: BudgetPolicy;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  /** The configuration file that owns this budget (TOLLGATE_CONFIG); null: the API does. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  managedBy!: string | null;

  /** Its name in the configuration file that owns it (a budget has no name of its own); null otherwise. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  configKey!: string | null;
}

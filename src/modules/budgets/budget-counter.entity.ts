import { Column, Entity, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintNumberTransformer, moneyTransformer } from '../../shared/columns';
import type { Pico } from '../../shared/money';
import { Budget } from './budget.entity';

/**
 * Spend of one budget in one period. Keyed by (budget, period start), so a new period is a
 * new row and nothing is ever "reset". `reserved` holds the worst-case cost of calls in flight.
 */
@Entity('budget_counters')
export class BudgetCounter {
  @PrimaryColumn({ type: 'uuid' })
  budgetId!: string;

  @ManyToOne(() => Budget, { onDelete: 'CASCADE' })
  budget?: Budget;

  @PrimaryColumn({ type: 'timestamptz' })
  periodStart!: Date;

  @Column({ type: 'numeric', precision: 30, scale: 12, default: 0, transformer: moneyTransformer })
  spent!: Pico;

  @Column({ type: 'numeric', precision: 30, scale: 12, default: 0, transformer: moneyTransformer })
  reserved!: Pico;

  @Column({ type: 'bigint', default: 0, transformer: bigintNumberTransformer })
  promptTokens!: number;

  @Column({ type: 'bigint', default: 0, transformer: bigintNumberTransformer })
  completionTokens!: number;

  @Column({ type: 'integer', default: 0 })
  requests!: number;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}

import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { moneyTransformer } from '../../shared/columns';
import type { Pico } from '../../shared/money';

/**
 * ACTIVE while its call runs (renewed); then SETTLED (charged what the call cost), RELEASED (the call
 * failed before costing anything, or the sweeper gave it back), or ABANDONED (its instance died: the
 * sweeper charged it at its worst case, since the upstream may have billed the call).
 */
export type ReservationStatus = 'ACTIVE' | 'SETTLED' | 'RELEASED' | 'ABANDONED';

/** One budget counter a reservation holds money on (amount as a decimal USD string). */
export interface ReservationHold {
  budgetId: string;
  periodStart: string;
  amount: string;
}

/** The worst-case cost of one call in flight, held on every budget that applies until settle or release. */
@Entity('reservations')
// Only the holds still open: the sweeper looks for them by expiry, and a closed one leaves the
// index instead of adding a second entry as its settle rewrites it.
@Index('IDX_reservations_active_expiry', ['expiresAt'], { where: "status = 'ACTIVE'" })
export class Reservation {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @Column({ type: 'uuid', nullable: true })
  apiKeyId!: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  requestId!: string | null;

  @Column({ type: 'numeric', precision: 30, scale: 12, transformer: moneyTransformer })
  amount!: Pico;

  @Column({ type: 'jsonb' })
  holds!: ReservationHold[];

  /**
   * The usage record to write if the hold is abandoned (columns as in usage_records; cost is the
   * amount). Cleared as the hold closes: nothing reads it after, and a settle rewrites the row.
   */
  @Column({ type: 'jsonb', nullable: true })
  usage!: Record<string, unknown> | null;

  @Column({ type: 'varchar', length: 16, default: 'ACTIVE' })
  status!: ReservationStatus;

  @Column({ type: 'timestamptz' })
  expiresAt!: Date;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  closedAt!: Date | null;
}

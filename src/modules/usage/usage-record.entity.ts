import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { moneyTransformer } from '../../shared/columns';
import type { Pico } from '../../shared/money';

export type UsageOutcome = 'SUCCESS' | 'UPSTREAM_ERROR' | 'CANCELLED' | 'ABANDONED';

/**
 * One completion that reached an upstream. Append-only: never updated; deleted only when it is an
 * ABANDONED placeholder (a hold charged at its worst case after its instance died) that the real
 * settle of the same call, or a retry of the same requestId, replaces.
 */
@Entity('usage_records')
@Index(['projectId', 'createdAt'])
@Index(['projectId', 'apiKeyId', 'createdAt'])
@Index('IDX_usage_records_abandoned_reservation', ['reservationId'], { where: "outcome = 'ABANDONED'" })
@Index('IDX_usage_records_abandoned_request', ['projectId', 'requestId'], { where: "outcome = 'ABANDONED'" })
export class UsageRecord {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @Column({ type: 'uuid', nullable: true })
  apiKeyId!: string | null;

  @Column({ type: 'varchar', length: 200 })
  requestId!: string;

  /** The reservation the call held (null when no budget applied). */
  @Column({ type: 'uuid', nullable: true })
  reservationId!: string | null;

  @Column({ type: 'varchar', length: 200 })
  modelRequested!: string;

  @Column({ type: 'varchar', length: 200 })
  modelServed!: string;

  @Column({ type: 'varchar', length: 100 })
  provider!: string;

  @Column({ type: 'varchar', length: 16, nullable: true })
  routeTier!: string | null;

  @Column({ type: 'integer' })
  promptTokens!: number;

  @Column({ type: 'integer' })
  completionTokens!: number;

  @Column({ type: 'integer' })
  totalTokens!: number;

  @Column({ type: 'numeric', precision: 30, scale: 12, transformer: moneyTransformer })
  cost!: Pico;

  /** False when the served model had no price: the cost is then 0 and the record is flagged. */
  @Column({ type: 'boolean', default: true })
  priced!: boolean;

  @Column({ type: 'integer' })
  gatewayLatencyMs!: number;

  @Column({ type: 'integer' })
  upstreamLatencyMs!: number;

  @Column({ type: 'integer', default: 1 })
  attempts!: number;

  @Column({ type: 'varchar', length: 32 })
  outcome!: UsageOutcome;

  @Column({ type: 'varchar', length: 64, nullable: true })
  errorCode!: string | null;

  /** Models tried and abandoned before the one served, in order. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  fallbacks!: string[];

  @Column({ type: 'boolean', default: false })
  downgraded!: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}

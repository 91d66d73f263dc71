import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { moneyTransformer } from '../../shared/columns';
import type { Pico } from '../../shared/money';

/** How a call that reached an upstream ended. */
export const UsageOutcome = {
  SUCCESS: 'SUCCESS',
  UPSTREAM_ERROR: 'UPSTREAM_ERROR',
  CANCELLED: 'CANCELLED',
  ABANDONED: 'ABANDONED',
} as const;
export type UsageOutcome = (typeof UsageOutcome)[keyof typeof UsageOutcome];

/** What a usage record is of: a chat completion or an embedding. */
export const UsageKind = { CHAT: 'CHAT', EMBEDDING: 'EMBEDDING' } as const;
export type UsageKind = (typeof UsageKind)[keyof typeof UsageKind];

/**
 * One completion that reached an upstream. Append-only: never updated; deleted only when it is an
 * ABANDONED placeholder (a hold charged at its worst case after its instance died) that the real
 * settle of the same call, or a retry of the same requestId, replaces, and, with a retention, a
 * month at a time. The table is partitioned by UTC month of `createdAt` (migration UsageRollups),
 * so the primary key is (id, createdAt); triggers keep its sums per hour and day in usage_rollups.
 */
@Entity('usage_records')
@Index(['projectId', 'createdAt'])
@Index(['projectId', 'apiKeyId', 'createdAt'])
@Index('IDX_usage_records_abandoned_reservation', ['reservationId'], { where: "outcome = 'ABANDONED'" })
@Index('IDX_usage_records_abandoned_request', ['projectId', 'requestId'], { where: "outcome = 'ABANDONED'" })
export class UsageRecord {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'PK_usage_records' })
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

  @Column({ type: 'varchar', length: 16, default: UsageKind.CHAT })
  kind!: UsageKind;

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

  /** Of the prompt tokens, those read from the provider's cache. */
  @Column({ type: 'integer', default: 0 })
  cachedPromptTokens!: number;

  /** Of the prompt tokens, those written to the provider's cache. */
  @Column({ type: 'integer', default: 0 })
  cacheWriteTokens!: number;

  /** Of the completion tokens, those spent reasoning (reported, not charged twice). */
  @Column({ type: 'integer', default: 0 })
  reasoningTokens!: number;

  /** What the cache saved against the full prompt price (negative when cache writes cost more). */
  @Column({ type: 'numeric', precision: 30, scale: 12, default: 0, transformer: moneyTransformer })
  cacheSavings!: Pico;

  /** Why the cost is not the plain product of prices, when it is not (a token class without its price). */
  @Column({ type: 'varchar', length: 300, nullable: true })
  priceNote!: string | null;

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

  @CreateDateColumn({ type: 'timestamptz', primary: true, primaryKeyConstraintName: 'PK_usage_records' })
  createdAt!: Date;
}

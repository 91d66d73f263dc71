import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

export type IdempotencyStatus = 'IN_PROGRESS' | 'DONE';

/**
 * The first result of a requestId, kept so a repeat returns it with no new charge. While its call
 * runs, the claim is a lease the running instance renews; a lease that ran out (its instance died)
 * may be claimed again.
 */
@Entity('idempotency_records')
@Index(['expiresAt'])
export class IdempotencyRecord {
  @PrimaryColumn({ type: 'uuid' })
  projectId!: string;

  @PrimaryColumn({ type: 'varchar', length: 200 })
  requestId!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: IdempotencyStatus;

  @Column({ type: 'jsonb', nullable: true })
  response!: Record<string, unknown> | null;

  /** SHA-256 of the request: the same key with another request is refused. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  requestHash!: string | null;

  /** Until when the IN_PROGRESS claim holds; renewed while the call runs. */
  @Column({ type: 'timestamptz', nullable: true })
  leaseUntil!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz' })
  expiresAt!: Date;
}

import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

export type IdempotencyStatus = 'IN_PROGRESS' | 'DONE';

/** The first result of a requestId, kept so a repeat returns it with no new charge. */
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

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz' })
  expiresAt!: Date;
}

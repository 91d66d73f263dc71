import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { Alert } from './alert.entity';
import { WebhookEndpoint } from './webhook-endpoint.entity';

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'FAILED';

/** Outbox row: written in the alert's transaction, delivered by the webhook worker with retries. */
@Entity('webhook_deliveries')
@Unique(['endpointId', 'alertId'])
@Index(['status', 'nextAttemptAt'])
export class WebhookDelivery {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @Column({ type: 'uuid' })
  endpointId!: string;

  @ManyToOne(() => WebhookEndpoint, { onDelete: 'CASCADE' })
  endpoint?: WebhookEndpoint;

  /** Null for a test delivery. */
  @Column({ type: 'uuid', nullable: true })
  alertId!: string | null;

  @ManyToOne(() => Alert, { onDelete: 'CASCADE' })
  alert?: Alert;

  @Column({ type: 'jsonb' })
  payload!: Record<string, unknown>;

  @Column({ type: 'varchar', length: 16, default: 'PENDING' })
  status!: DeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'timestamptz' })
  nextAttemptAt!: Date;

  @Column({ type: 'integer', nullable: true })
  lastStatusCode!: number | null;

  @Column({ type: 'varchar', length: 1000, nullable: true })
  lastError!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}

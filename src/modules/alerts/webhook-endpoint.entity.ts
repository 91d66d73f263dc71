import { Column, CreateDateColumn, Entity, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Project } from '../projects/project.entity';

/** The body an endpoint gets: Slack blocks, or the alert as JSON. */
export const WebhookFormat = { SLACK: 'SLACK', JSON: 'JSON' } as const;
export type WebhookFormat = (typeof WebhookFormat)[keyof typeof WebhookFormat];

@Entity('webhook_endpoints')
export class WebhookEndpoint {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project?: Project;

  @Column({ type: 'varchar', length: 2000 })
  url!: string;

  @Column({ type: 'varchar', length: 16 })
  format!: WebhookFormat;

  /** The signing secret, encrypted with the server key. Never returned after creation. */
  @Column({ type: 'text' })
  secretEncrypted!: string;

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  /** The configuration file that owns this endpoint (TOLLGATE_CONFIG); null: the API does. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  managedBy!: string | null;

  /** Its name in the configuration file that owns it (a endpoint has no name of its own); null otherwise. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  configKey!: string | null;
}

import { Column, CreateDateColumn, Entity, Index, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { Project } from './project.entity';

/** ADMIN manages the project; CLIENT makes calls and reads. */
export const ApiKeyRole = { ADMIN: 'ADMIN', CLIENT: 'CLIENT' } as const;
export type ApiKeyRole = (typeof ApiKeyRole)[keyof typeof ApiKeyRole];

/** A gateway key. Only its SHA-256 hash is stored; the plaintext is shown once at creation. */
@Entity('api_keys')
export class ApiKey {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Index()
  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project?: Project;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  role!: ApiKeyRole;

  /** The first characters of the key, for people to tell keys apart ("tg_3f9a1c"). */
  @Column({ type: 'varchar', length: 16 })
  prefix!: string;

  @Index({ unique: true })
  @Column({ type: 'char', length: 64 })
  keyHash!: string;

  /** Requests per minute for this key (null: no limit). */
  @Column({ type: 'integer', nullable: true })
  rpmLimit!: number | null;

  /** Tokens per minute for this key (null: no limit). */
  @Column({ type: 'integer', nullable: true })
  tpmLimit!: number | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;

  /** The configuration file that owns this key (TOLLGATE_CONFIG); null: the API does. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  managedBy!: string | null;
}

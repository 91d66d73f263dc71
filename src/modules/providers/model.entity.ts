import { Column, CreateDateColumn, Entity, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { moneyTransformer } from '../../db/columns';
import type { Pico } from '../../shared/money';
import { Project } from '../projects/project.entity';
import { Provider } from './provider.entity';

export type Tier = 'SIMPLE' | 'MODERATE' | 'COMPLEX';
export const TIERS: readonly Tier[] = ['SIMPLE', 'MODERATE', 'COMPLEX'];

/** A model a project can call, with its exact prices (USD per million tokens). */
@Entity('models')
@Unique(['projectId', 'name'])
export class Model {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project?: Project;

  @Column({ type: 'uuid' })
  providerId!: string;

  @ManyToOne(() => Provider, { onDelete: 'CASCADE' })
  provider?: Provider;

  /** The name clients ask for ("deepseek-chat"). */
  @Column({ type: 'varchar', length: 200 })
  name!: string;

  /** The name sent upstream (often the same). */
  @Column({ type: 'varchar', length: 200 })
  upstreamName!: string;

  @Column({ type: 'numeric', precision: 18, scale: 6, transformer: moneyTransformer })
  promptPrice!: Pico;

  @Column({ type: 'numeric', precision: 18, scale: 6, transformer: moneyTransformer })
  completionPrice!: Pico;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tiers!: Tier[];

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}

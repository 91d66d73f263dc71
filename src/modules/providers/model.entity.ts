import { Column, CreateDateColumn, Entity, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { moneyTransformer, numericNumberTransformer } from '../../shared/columns';
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

  /**
   * How much more the upstream may count than our tokenizer does on this model's prompts (0.25 =
   * 25%): the reservation holds that much more prompt. Null: the default for the model's family.
   */
  @Column({ type: 'numeric', precision: 6, scale: 4, nullable: true, transformer: numericNumberTransformer })
  promptMargin!: number | null;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tiers!: Tier[];

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}

import { Column, CreateDateColumn, Entity, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { moneyTransformer, numericNumberTransformer } from '../../shared/columns';
import type { Pico } from '../../shared/money';
import { Project } from '../projects/project.entity';
import { Provider } from './provider.entity';

/** Request complexity tier used by the router. */
export const Tier = { SIMPLE: 'SIMPLE', MODERATE: 'MODERATE', COMPLEX: 'COMPLEX' } as const;
export type Tier = (typeof Tier)[keyof typeof Tier];
/** The tiers from the simplest up (the router falls back downward in this order). */
export const TIERS: readonly Tier[] = [Tier.SIMPLE, Tier.MODERATE, Tier.COMPLEX];

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

  /** USD per million prompt tokens read from the provider's cache; null: not priced (charged at promptPrice, flagged). */
  @Column({ type: 'numeric', precision: 18, scale: 6, nullable: true, transformer: moneyTransformer })
  cachedPromptPrice!: Pico | null;

  /** USD per million prompt tokens written to the provider's cache; null: not priced (charged at promptPrice, flagged). */
  @Column({ type: 'numeric', precision: 18, scale: 6, nullable: true, transformer: moneyTransformer })
  cacheWritePrice!: Pico | null;

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

  /** The configuration file that owns this model (TOLLGATE_CONFIG); null: the API does. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  managedBy!: string | null;
}

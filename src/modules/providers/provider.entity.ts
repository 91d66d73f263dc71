import { Column, CreateDateColumn, Entity, ManyToOne, PrimaryGeneratedColumn, Unique } from 'typeorm';
import { Project } from '../projects/project.entity';

/** How an upstream is reached: the built-in simulator, an OpenAI-compatible HTTP API, or Anthropic's Messages API. */
export const ProviderKind = {
  SIMULATED: 'SIMULATED',
  OPENAI_COMPATIBLE: 'OPENAI_COMPATIBLE',
  ANTHROPIC: 'ANTHROPIC',
} as const;
export type ProviderKind = (typeof ProviderKind)[keyof typeof ProviderKind];

/** The wire the simulator speaks: OpenAI's chat, or Anthropic's Messages (with prompt caching). */
export const SimulatedWire = { OPENAI: 'OPENAI', ANTHROPIC: 'ANTHROPIC' } as const;
export type SimulatedWire = (typeof SimulatedWire)[keyof typeof SimulatedWire];

/** Where an upstream key comes from: an environment variable, or a value encrypted with the server key. */
export type UpstreamKeyRef = { env: string } | { encrypted: string };

export interface SimulationSettings {
  /** Fixed latency added to every call, in milliseconds. */
  latencyMs: number;
  /** Probability in [0, 1] that a call fails with a 503. */
  failureRate: number;
  /** Delay between streamed chunks, in milliseconds. */
  chunkDelayMs: number;
  /** OPENAI when absent (providers made before the setting existed). */
  wire?: SimulatedWire;
}

@Entity('providers')
@Unique(['projectId', 'name'])
export class Provider {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  project?: Project;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'varchar', length: 32 })
  kind!: ProviderKind;

  @Column({ type: 'varchar', length: 2000, nullable: true })
  baseUrl!: string | null;

  /** Never returned by any query. */
  @Column({ type: 'jsonb', default: () => "'[]'" })
  upstreamKeys!: UpstreamKeyRef[];

  @Column({ type: 'integer', default: 1000 })
  requestsPerMinute!: number;

  @Column({ type: 'integer', default: 64 })
  maxConcurrency!: number;

  @Column({ type: 'integer', default: 30000 })
  timeoutMs!: number;

  @Column({ type: 'jsonb', nullable: true })
  simulation!: SimulationSettings | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  /** The configuration file that owns this provider (TOLLGATE_CONFIG); null: the API does. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  managedBy!: string | null;
}

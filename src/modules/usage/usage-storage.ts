import type { DataSource, EntityManager } from 'typeorm';

/** How many months past this one usage_records has partitions for, made ahead of their records. */
export const PARTITION_MONTHS_AHEAD = 2;

/** Cells one fold rewrites in one transaction, and how many such folds one sweep runs at most. */
const FOLD_CELLS = 1_000;
const FOLDS_PER_SWEEP = 20;

const DAY_MS = 86_400_000;

/**
 * How usage records are kept (the SQL is in src/db/sql/): usage_records partitioned by UTC month,
 * with partitions made ahead of their records and, with a retention, the old ones dropped whole;
 * usage_rollups summed per hour and per day by triggers, and folded here so reports read few rows.
 */
export class UsageStorage {
  constructor(
    private readonly db: DataSource,
    /** Raw records older than this many days are dropped (their rollups stay); null keeps them. */
    private readonly retentionDays: number | null,
  ) {}

  /** Makes the partitions of this month and the next ones, and of any month the default partition holds records of. */
  addPartitions(): Promise<string[]> {
    return addUsagePartitions(this.db);
  }

  /** Drops the raw records older than the retention, whole partitions at a time; the rollups keep their sums. */
  async dropExpiredRecords(now = new Date()): Promise<string[]> {
    if (this.retentionDays === null) return [];
    const before = new Date(now.getTime() - this.retentionDays * DAY_MS);
    const [row] = (await this.db.query('SELECT tollgate_drop_usage_partitions($1) AS dropped', [before])) as {
      dropped: string[];
    }[];
    return row?.dropped ?? [];
  }

  /** Folds the rollup rows written since the last fold, one row per combination and cell; returns the cells folded. */
  async foldRollups(): Promise<number> {
    let folded = 0;
    for (let i = 0; i < FOLDS_PER_SWEEP; i++) {
      const [row] = (await this.db.query('SELECT tollgate_fold_rollups($1) AS cells', [FOLD_CELLS])) as {
        cells: number;
      }[];
      folded += row?.cells ?? 0;
      if ((row?.cells ?? 0) < FOLD_CELLS) break;
    }
    return folded;
  }
}

/** The partitions of this month and the next ones (at start, after the migrations, and at every sweep). */
export async function addUsagePartitions(db: DataSource | EntityManager): Promise<string[]> {
  const [row] = (await db.query('SELECT tollgate_create_usage_partitions($1) AS made', [
    PARTITION_MONTHS_AHEAD,
  ])) as { made: string[] }[];
  return row?.made ?? [];
}

import type { DataSource } from 'typeorm';
import { addUsagePartitions } from '../modules/usage/usage-storage';
import { applySqlFunctions } from './sql-functions';

const MIGRATION_LOCK = 7411001;
/** Postgres' lock_not_available: a lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Runs pending migrations, then applies the SQL functions whose files changed, then makes sure
 * usage_records has its partitions for this month and the next ones (the sweeper keeps them
 * ahead); on a shared server, under an advisory lock so instances starting together take turns.
 */
export async function migrate(db: DataSource, shared: boolean): Promise<void> {
  const run = async () => {
    await db.runMigrations({ transaction: 'all' });
    await db.transaction((em) => applySqlFunctions(em));
    // Another instance making or dropping partitions holds their lock: its work covers this
    // month, and records outside any month land in the default partition until the next sweep.
    await addUsagePartitions(db).catch((error: unknown) => {
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
    });
  };
  if (!shared) return run();
  const runner = db.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await run();
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

import type { DataSource } from 'typeorm';
import type { Logger } from '../shared/logger';
import { addUsagePartitions } from '../modules/usage/usage-storage';
import { applySqlFunctions } from './sql-functions';

const MIGRATION_LOCK = 7411001;
/** Postgres' lock_not_available: a lock_timeout ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Runs pending migrations, then applies the SQL functions whose files changed, then makes sure
 * usage_records has its partitions for this month and the next ones (the sweeper keeps them
 * ahead); on a shared server, under an advisory lock so instances starting together take turns.
 *
 * A build older than the database (it has migrations this build does not know: a newer instance
 * came first, as in a rolling deploy or a rollback) leaves the functions as they are: the newer
 * ones read what older calls write, but older ones need not read what newer calls write (an
 * abandoned hold's record, say), and would otherwise replace them until the next newer boot.
 */
export async function migrate(db: DataSource, shared: boolean, log?: Logger): Promise<void> {
  const run = async () => {
    await db.runMigrations({ transaction: 'all' });
    const unknown = await migrationsNewerThanThisBuild(db);
    if (unknown.length > 0) {
      log?.warn(
        { migrations: unknown },
        'the database has migrations this build does not know (a newer version ran on it): its SQL functions are left as they are',
      );
    } else {
      await db.transaction((em) => applySqlFunctions(em));
    }
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

/** The migrations the database has run that this build does not have. */
async function migrationsNewerThanThisBuild(db: DataSource): Promise<string[]> {
  const known = new Set(db.migrations.map((m) => m.name ?? m.constructor.name));
  const rows: { name: string }[] = await db.query('SELECT name FROM migrations');
  return rows.map((r) => r.name).filter((name) => !known.has(name));
}

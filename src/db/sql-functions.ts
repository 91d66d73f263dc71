import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { EntityManager } from 'typeorm';

/**
 * The ledger's SQL functions (and the usage records' rollup trigger, partitions and folding), one
 * file each in src/db/sql/, in the order they are created (a LANGUAGE sql function must come after
 * the functions it calls). Each file holds its function's current text (CREATE OR REPLACE);
 * changing a function is editing its file, never a migration. A file whose signature changes
 * starts with a DROP FUNCTION IF EXISTS of the old one.
 */
export const SQL_FUNCTIONS = [
  'tollgate_usage_rollup',
  'tollgate_fold_rollups',
  'tollgate_create_usage_partitions',
  'tollgate_drop_usage_partitions',
  'tollgate_insert_usage',
  'tollgate_apply_deltas',
  'tollgate_hold_deltas',
  'tollgate_supersede',
  'tollgate_budget_signature',
  'tollgate_reserve',
  'tollgate_reserve_many',
  'tollgate_settle',
  'tollgate_settle_many',
  'tollgate_reserve_lone',
  'tollgate_settle_lone',
  'tollgate_release',
  'tollgate_sweep_holds',
  'tollgate_ledger_batch',
] as const;

/** src/db/sql when running from the sources; from dist/, the same folder of the checkout it was built from. */
function sqlDir(): string {
  const beside = path.join(__dirname, 'sql');
  return fs.existsSync(beside) ? beside : path.resolve(__dirname, '../../../src/db/sql');
}

export function readSqlFunction(name: string): string {
  return fs.readFileSync(path.join(sqlDir(), `${name}.sql`), 'utf8');
}

/**
 * Applies every function whose file changed since it was last applied (a checksum per name in
 * `sql_functions`), in one transaction, after the migrations: the repeatable step beside the
 * versioned ones. Returns the names applied.
 */
export async function applySqlFunctions(em: EntityManager): Promise<string[]> {
  const rows: { name: string; checksum: string }[] = await em.query(
    'SELECT name, checksum FROM sql_functions',
  );
  const applied = new Map(rows.map((r) => [r.name, r.checksum]));
  const changed: string[] = [];
  for (const name of SQL_FUNCTIONS) {
    const text = readSqlFunction(name);
    const checksum = crypto.hash('sha256', text, 'hex');
    if (applied.get(name) === checksum) continue;
    await em.query(text);
    await em.query(
      `INSERT INTO sql_functions (name, checksum) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`,
      [name, checksum],
    );
    changed.push(name);
  }
  return changed;
}

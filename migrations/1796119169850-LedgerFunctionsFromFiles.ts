import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ReserveSettleFunctions1795758000000 } from './1795758000000-ReserveSettleFunctions';
import { BatchedReserveSettle1795764303474 } from './1795764303474-BatchedReserveSettle';

/**
 * From here on, the ledger's SQL functions live in src/db/sql/, one file each, and are applied
 * after the migrations whenever a file changed (src/db/sql-functions.ts), so each function's
 * current text is in one place and no migration is edited to change one. This drops the functions
 * the two earlier migrations created (their signatures change) and makes the table that records
 * which version of each file is applied. Written by hand: the CLI does not generate functions.
 */
export class LedgerFunctionsFromFiles1796119169850 implements MigrationInterface {
  name = 'LedgerFunctionsFromFiles1796119169850';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP FUNCTION tollgate_ledger_batch(jsonb)');
    await queryRunner.query('DROP FUNCTION tollgate_insert_usage(jsonb, numeric, bigint, bigint)');
    await queryRunner.query('DROP FUNCTION tollgate_settle(uuid, numeric, bigint, bigint, integer, jsonb)');
    await queryRunner.query(
      'DROP FUNCTION tollgate_reserve(uuid, uuid, varchar, numeric, integer, text, uuid[], timestamptz[], numeric[])',
    );
    await queryRunner.query(`CREATE TABLE "sql_functions" (
      "name" character varying(100) NOT NULL PRIMARY KEY,
      "checksum" character varying(64) NOT NULL,
      "applied_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now())`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE "sql_functions"');
    for (const name of [
      'tollgate_ledger_batch(jsonb)',
      'tollgate_settle(jsonb)',
      'tollgate_release(jsonb)',
      'tollgate_reserve(jsonb)',
      'tollgate_sweep_holds(integer, boolean, uuid, varchar)',
      'tollgate_supersede(uuid, varchar, uuid)',
      'tollgate_hold_deltas(jsonb, numeric, numeric, bigint, bigint, integer)',
      'tollgate_apply_deltas(jsonb)',
      'tollgate_insert_usage(jsonb)',
    ]) {
      await queryRunner.query(`DROP FUNCTION IF EXISTS ${name}`);
    }
    await new ReserveSettleFunctions1795758000000().up(queryRunner);
    await new BatchedReserveSettle1795764303474().up(queryRunner);
  }
}

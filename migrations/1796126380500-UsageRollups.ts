import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The statement-level triggers of usage_records that keep usage_rollups exact (their function below). */
const ROLLUP_TRIGGERS = ['usage_records_rollup_insert', 'usage_records_rollup_delete', 'usage_records_rollup_update'];

/**
 * Reads flat in the size of the ledger, and retention:
 *
 * - usage_records becomes a table partitioned by UTC month (usage_records_yYYYYmMM, plus a default
 *   partition for anything no month holds), so old records go a partition at a time. Its primary
 *   key becomes (id, created_at), as a partitioned table's key must hold the partition key; the
 *   records are copied over, the indexes keep their names.
 * - usage_rollups holds usage summed per UTC hour and per UTC day (a partition each) and per
 *   project, key, kind, model, tier, outcome and priced. Statement-level triggers on usage_records
 *   add to it in the same transaction as every write and delete of records, so the sums stay
 *   exact through the supersede of ABANDONED placeholders. Existing records are rolled up by those
 *   triggers as they are copied, in this migration's transaction.
 *
 * Written by hand: the CLI does not generate partitions, triggers or functions. The trigger's
 * function is created here as it is first needed; its current text is
 * src/db/sql/tollgate_usage_rollup.sql, applied after the migrations like the ledger's functions,
 * as are the functions that make and drop partitions and fold the rollups.
 */
export class UsageRollups1796126380500 implements MigrationInterface {
  name = 'UsageRollups1796126380500';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // The unpartitioned table steps aside; its indexes go now so that the new ones take their names.
    await queryRunner.query(`DROP INDEX "IDX_64ad44a7c2c11d6d62b4f759ba"`);
    await queryRunner.query(`DROP INDEX "IDX_73f3880b54731aed657f8a65df"`);
    await queryRunner.query(`DROP INDEX "IDX_usage_records_abandoned_request"`);
    await queryRunner.query(`DROP INDEX "IDX_usage_records_abandoned_reservation"`);
    await queryRunner.query(`ALTER TABLE "usage_records" RENAME TO "usage_records_unpartitioned"`);
    await queryRunner.query(
      `ALTER TABLE "usage_records_unpartitioned" RENAME CONSTRAINT "PK_e511cf9f7dc53851569f87467a5" TO "PK_usage_records_unpartitioned"`,
    );
    await queryRunner.query(
      `CREATE TABLE "usage_records" (LIKE "usage_records_unpartitioned" INCLUDING DEFAULTS) PARTITION BY RANGE ("created_at")`,
    );
    // A partition for every month from the oldest record's to two months ahead (UTC months).
    await queryRunner.query(`DO $$
      DECLARE
        v_month timestamp;
      BEGIN
        FOR v_month IN
          SELECT generate_series(
                   least(date_trunc('month', (SELECT min(created_at) FROM usage_records_unpartitioned) AT TIME ZONE 'UTC'),
                         date_trunc('month', now() AT TIME ZONE 'UTC')),
                   date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months',
                   interval '1 month')
        LOOP
          EXECUTE format('CREATE TABLE %I PARTITION OF usage_records FOR VALUES FROM (%L) TO (%L)',
                         'usage_records_' || to_char(v_month, '"y"YYYY"m"MM'),
                         v_month AT TIME ZONE 'UTC', (v_month + interval '1 month') AT TIME ZONE 'UTC');
        END LOOP;
      END
    $$`);
    await queryRunner.query(`CREATE TABLE "usage_records_default" PARTITION OF "usage_records" DEFAULT`);

    await queryRunner.query(`CREATE TABLE "usage_rollups" (
      "grain" character varying(8) NOT NULL,
      "bucket" TIMESTAMP WITH TIME ZONE NOT NULL,
      "project_id" uuid NOT NULL,
      "api_key_id" uuid,
      "kind" character varying(16) NOT NULL,
      "model_served" character varying(200) NOT NULL,
      "route_tier" character varying(16),
      "outcome" character varying(32) NOT NULL,
      "priced" boolean NOT NULL,
      "requests" bigint NOT NULL,
      "prompt_tokens" bigint NOT NULL,
      "completion_tokens" bigint NOT NULL,
      "cached_prompt_tokens" bigint NOT NULL,
      "cache_write_tokens" bigint NOT NULL,
      "reasoning_tokens" bigint NOT NULL,
      "cost" numeric(30,12) NOT NULL,
      "cache_savings" numeric(30,12) NOT NULL,
      "gateway_latency_ms" bigint NOT NULL,
      "upstream_latency_ms" bigint NOT NULL,
      "folded" boolean NOT NULL DEFAULT false) PARTITION BY LIST ("grain")`);
    // A partition per grain: a month of days is a few pages of its own, not rows strewn among the hours'.
    await queryRunner.query(`CREATE TABLE "usage_rollups_hour" PARTITION OF "usage_rollups" FOR VALUES IN ('hour')`);
    await queryRunner.query(`CREATE TABLE "usage_rollups_day" PARTITION OF "usage_rollups" FOR VALUES IN ('day')`);
    await queryRunner.query(
      `CREATE INDEX "IDX_usage_rollups_cell" ON "usage_rollups" ("project_id", "grain", "bucket")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_usage_rollups_unfolded" ON "usage_rollups" ("project_id", "grain", "bucket") WHERE NOT folded`,
    );
    await queryRunner.query(`CREATE FUNCTION tollgate_usage_rollup()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO usage_rollups (grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced,
                               requests, prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens,
                               reasoning_tokens, cost, cache_savings, gateway_latency_ms, upstream_latency_ms)
    SELECT g.grain, date_trunc(g.grain, r.created_at, 'UTC'), r.project_id, r.api_key_id, r.kind, r.model_served,
           r.route_tier, r.outcome, r.priced, count(*), sum(r.prompt_tokens), sum(r.completion_tokens),
           sum(r.cached_prompt_tokens), sum(r.cache_write_tokens), sum(r.reasoning_tokens), sum(r.cost),
           sum(r.cache_savings), sum(r.gateway_latency_ms), sum(r.upstream_latency_ms)
      FROM added r CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain)
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    INSERT INTO usage_rollups (grain, bucket, project_id, api_key_id, kind, model_served, route_tier, outcome, priced,
                               requests, prompt_tokens, completion_tokens, cached_prompt_tokens, cache_write_tokens,
                               reasoning_tokens, cost, cache_savings, gateway_latency_ms, upstream_latency_ms)
    SELECT g.grain, date_trunc(g.grain, r.created_at, 'UTC'), r.project_id, r.api_key_id, r.kind, r.model_served,
           r.route_tier, r.outcome, r.priced, -count(*), -sum(r.prompt_tokens), -sum(r.completion_tokens),
           -sum(r.cached_prompt_tokens), -sum(r.cache_write_tokens), -sum(r.reasoning_tokens), -sum(r.cost),
           -sum(r.cache_savings), -sum(r.gateway_latency_ms), -sum(r.upstream_latency_ms)
      FROM removed r CROSS JOIN (VALUES ('hour'), ('day')) AS g(grain)
     GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
  END IF;
  RETURN NULL;
END
$fn$`);
    await queryRunner.query(`CREATE TRIGGER usage_records_rollup_insert AFTER INSERT ON usage_records
      REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollup()`);
    await queryRunner.query(`CREATE TRIGGER usage_records_rollup_delete AFTER DELETE ON usage_records
      REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollup()`);
    await queryRunner.query(`CREATE TRIGGER usage_records_rollup_update AFTER UPDATE ON usage_records
      REFERENCING OLD TABLE AS removed NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollup()`);

    // The existing records, rolled up by the trigger as they are copied: one statement, so its
    // rollup rows are already one per cell and combination (folded).
    await queryRunner.query(`INSERT INTO "usage_records" SELECT * FROM "usage_records_unpartitioned"`);
    await queryRunner.query(`UPDATE "usage_rollups" SET "folded" = true`);
    await queryRunner.query(`DROP TABLE "usage_records_unpartitioned"`);

    // Keys and indexes last, each built once per partition over the copied records.
    await queryRunner.query(
      `ALTER TABLE "usage_records" ADD CONSTRAINT "PK_usage_records" PRIMARY KEY ("id", "created_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_64ad44a7c2c11d6d62b4f759ba" ON "usage_records" ("project_id", "api_key_id", "created_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_73f3880b54731aed657f8a65df" ON "usage_records" ("project_id", "created_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_usage_records_abandoned_request" ON "usage_records" ("project_id", "request_id") WHERE outcome = 'ABANDONED'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_usage_records_abandoned_reservation" ON "usage_records" ("reservation_id") WHERE outcome = 'ABANDONED'`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    for (const trigger of ROLLUP_TRIGGERS) {
      await queryRunner.query(`DROP TRIGGER ${trigger} ON "usage_records"`);
    }
    const functions = [
      'tollgate_usage_rollup()',
      'tollgate_fold_rollups(integer)',
      'tollgate_create_usage_partitions(integer)',
      'tollgate_drop_usage_partitions(timestamptz)',
    ];
    for (const fn of functions) await queryRunner.query(`DROP FUNCTION IF EXISTS ${fn}`);
    // So that the SQL functions step makes them again if this migration runs again.
    await queryRunner.query(
      `DELETE FROM "sql_functions" WHERE "name" = ANY($1)`,
      [functions.map((fn) => fn.slice(0, fn.indexOf('(')))],
    );
    await queryRunner.query(`DROP TABLE "usage_rollups"`);
    await queryRunner.query(`ALTER TABLE "usage_records" RENAME TO "usage_records_partitioned"`);
    await queryRunner.query(`DROP INDEX "IDX_64ad44a7c2c11d6d62b4f759ba"`);
    await queryRunner.query(`DROP INDEX "IDX_73f3880b54731aed657f8a65df"`);
    await queryRunner.query(`DROP INDEX "IDX_usage_records_abandoned_request"`);
    await queryRunner.query(`DROP INDEX "IDX_usage_records_abandoned_reservation"`);
    await queryRunner.query(
      `CREATE TABLE "usage_records" (LIKE "usage_records_partitioned" INCLUDING DEFAULTS)`,
    );
    await queryRunner.query(`INSERT INTO "usage_records" SELECT * FROM "usage_records_partitioned"`);
    await queryRunner.query(`DROP TABLE "usage_records_partitioned"`);
    await queryRunner.query(
      `ALTER TABLE "usage_records" ADD CONSTRAINT "PK_e511cf9f7dc53851569f87467a5" PRIMARY KEY ("id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_64ad44a7c2c11d6d62b4f759ba" ON "usage_records" ("project_id", "api_key_id", "created_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_73f3880b54731aed657f8a65df" ON "usage_records" ("project_id", "created_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_usage_records_abandoned_request" ON "usage_records" ("project_id", "request_id") WHERE outcome = 'ABANDONED'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_usage_records_abandoned_reservation" ON "usage_records" ("reservation_id") WHERE outcome = 'ABANDONED'`,
    );
  }
}

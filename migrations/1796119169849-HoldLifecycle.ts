import { MigrationInterface, QueryRunner } from "typeorm";

export class HoldLifecycle1796119169849 implements MigrationInterface {
    name = 'HoldLifecycle1796119169849'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "reservations" ADD "usage" jsonb`);
        await queryRunner.query(`ALTER TABLE "idempotency_records" ADD "request_hash" character varying(64)`);
        await queryRunner.query(`ALTER TABLE "idempotency_records" ADD "lease_until" TIMESTAMP WITH TIME ZONE`);
        await queryRunner.query(`ALTER TABLE "models" ADD "prompt_margin" numeric(6,4)`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "reservation_id" uuid`);
        await queryRunner.query(`CREATE INDEX "IDX_usage_records_abandoned_request" ON "usage_records"  ("project_id", "request_id") WHERE outcome = 'ABANDONED'`);
        await queryRunner.query(`CREATE INDEX "IDX_usage_records_abandoned_reservation" ON "usage_records"  ("reservation_id") WHERE outcome = 'ABANDONED'`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "public"."IDX_usage_records_abandoned_reservation"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_usage_records_abandoned_request"`);
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "reservation_id"`);
        await queryRunner.query(`ALTER TABLE "models" DROP COLUMN "prompt_margin"`);
        await queryRunner.query(`ALTER TABLE "idempotency_records" DROP COLUMN "lease_until"`);
        await queryRunner.query(`ALTER TABLE "idempotency_records" DROP COLUMN "request_hash"`);
        await queryRunner.query(`ALTER TABLE "reservations" DROP COLUMN "usage"`);
    }

}

import { MigrationInterface, QueryRunner } from "typeorm";

export class ManagedBy1796126333093 implements MigrationInterface {
    name = 'ManagedBy1796126333093'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "projects" ADD "managed_by" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" ADD "managed_by" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" ADD "config_key" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "api_keys" ADD "managed_by" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "budgets" ADD "managed_by" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "budgets" ADD "config_key" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "providers" ADD "managed_by" character varying(200)`);
        await queryRunner.query(`ALTER TABLE "models" ADD "managed_by" character varying(200)`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "models" DROP COLUMN "managed_by"`);
        await queryRunner.query(`ALTER TABLE "providers" DROP COLUMN "managed_by"`);
        await queryRunner.query(`ALTER TABLE "budgets" DROP COLUMN "config_key"`);
        await queryRunner.query(`ALTER TABLE "budgets" DROP COLUMN "managed_by"`);
        await queryRunner.query(`ALTER TABLE "api_keys" DROP COLUMN "managed_by"`);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" DROP COLUMN "config_key"`);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" DROP COLUMN "managed_by"`);
        await queryRunner.query(`ALTER TABLE "projects" DROP COLUMN "managed_by"`);
    }

}

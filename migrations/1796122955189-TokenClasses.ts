import { MigrationInterface, QueryRunner } from "typeorm";

export class TokenClasses1796122955189 implements MigrationInterface {
    name = 'TokenClasses1796122955189'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "models" ADD "cached_prompt_price" numeric(18,6)`);
        await queryRunner.query(`ALTER TABLE "models" ADD "cache_write_price" numeric(18,6)`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "kind" character varying(16) NOT NULL DEFAULT 'CHAT'`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "cached_prompt_tokens" integer NOT NULL DEFAULT '0'`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "cache_write_tokens" integer NOT NULL DEFAULT '0'`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "reasoning_tokens" integer NOT NULL DEFAULT '0'`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "cache_savings" numeric(30,12) NOT NULL DEFAULT '0'`);
        await queryRunner.query(`ALTER TABLE "usage_records" ADD "price_note" character varying(300)`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "price_note"`);
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "cache_savings"`);
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "reasoning_tokens"`);
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "cache_write_tokens"`);
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "cached_prompt_tokens"`);
        await queryRunner.query(`ALTER TABLE "usage_records" DROP COLUMN "kind"`);
        await queryRunner.query(`ALTER TABLE "models" DROP COLUMN "cache_write_price"`);
        await queryRunner.query(`ALTER TABLE "models" DROP COLUMN "cached_prompt_price"`);
    }

}

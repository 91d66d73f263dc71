import { MigrationInterface, QueryRunner } from "typeorm";

export class ActiveHoldsIndex1796172724051 implements MigrationInterface {
    name = 'ActiveHoldsIndex1796172724051'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "IDX_ea9ecedd029b9d302218892058"`);
        await queryRunner.query(`CREATE INDEX "IDX_reservations_active_expiry" ON "reservations"  ("expires_at") WHERE status = 'ACTIVE'`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`DROP INDEX "IDX_reservations_active_expiry"`);
        await queryRunner.query(`CREATE INDEX "IDX_ea9ecedd029b9d302218892058" ON "reservations" USING btree ("status", "expires_at") `);
    }

}

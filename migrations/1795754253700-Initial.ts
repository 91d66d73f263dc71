import { MigrationInterface, QueryRunner } from "typeorm";

export class Initial1795754253700 implements MigrationInterface {
    name = 'Initial1795754253700'

    public async up(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`CREATE TABLE "alerts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "budget_id" uuid, "period_start" TIMESTAMP WITH TIME ZONE, "type" character varying(32) NOT NULL, "severity" character varying(16) NOT NULL, "threshold" numeric(8,6), "utilization" double precision NOT NULL, "snapshot" jsonb NOT NULL, "dedupe_key" character varying(300) NOT NULL, "message" character varying(1000) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_60f895662df096bfcdfab7f4b96" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_c62a07b16ed6f4bbdd2667007f" ON "alerts"  ("project_id", "created_at") `);
        await queryRunner.query(`CREATE UNIQUE INDEX "IDX_f3e14557eaa1784606b3a7855a" ON "alerts"  ("project_id", "dedupe_key") `);
        await queryRunner.query(`CREATE TABLE "projects" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(200) NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_6271df0a7aed1d6c0691ce6ac50" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE TABLE "webhook_endpoints" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "url" character varying(2000) NOT NULL, "format" character varying(16) NOT NULL, "secret_encrypted" text NOT NULL, "enabled" boolean NOT NULL DEFAULT true, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_054c4cfb95223732f5939d2d546" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE TABLE "webhook_deliveries" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "endpoint_id" uuid NOT NULL, "alert_id" uuid, "payload" jsonb NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'PENDING', "attempts" integer NOT NULL DEFAULT '0', "next_attempt_at" TIMESTAMP WITH TIME ZONE NOT NULL, "last_status_code" integer, "last_error" character varying(1000), "delivered_at" TIMESTAMP WITH TIME ZONE, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_5757013df85ac6a890d8fbcd803" UNIQUE ("endpoint_id", "alert_id"), CONSTRAINT "PK_535dd409947fb6d8fc6dfc0112a" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_284017efc3cbfe592288749a9c" ON "webhook_deliveries"  ("status", "next_attempt_at") `);
        await queryRunner.query(`CREATE TABLE "api_keys" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "name" character varying(200) NOT NULL, "role" character varying(16) NOT NULL, "prefix" character varying(16) NOT NULL, "key_hash" character(64) NOT NULL, "rpm_limit" integer, "tpm_limit" integer, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "revoked_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_5c8a79801b44bd27b79228e1dad" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_f5de07dbb229225e2be643ff3d" ON "api_keys"  ("project_id") `);
        await queryRunner.query(`CREATE UNIQUE INDEX "IDX_57384430aa1959f4578046c9b8" ON "api_keys"  ("key_hash") `);
        await queryRunner.query(`CREATE TABLE "budgets" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "api_key_id" uuid, "period" character varying(16) NOT NULL, "limit_usd" numeric(30,12) NOT NULL, "time_zone" character varying(64) NOT NULL DEFAULT 'UTC', "thresholds" jsonb NOT NULL, "policy" character varying(16) NOT NULL DEFAULT 'REJECT', "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_9c8a51748f82387644b773da482" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_cce44d3ce5ae3e1057d35f6e45" ON "budgets"  ("project_id", "api_key_id") `);
        await queryRunner.query(`CREATE TABLE "budget_counters" ("budget_id" uuid NOT NULL, "period_start" TIMESTAMP WITH TIME ZONE NOT NULL, "spent" numeric(30,12) NOT NULL DEFAULT '0', "reserved" numeric(30,12) NOT NULL DEFAULT '0', "prompt_tokens" bigint NOT NULL DEFAULT '0', "completion_tokens" bigint NOT NULL DEFAULT '0', "requests" integer NOT NULL DEFAULT '0', "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_b2178b30aa2505f706cc9534107" PRIMARY KEY ("budget_id", "period_start"))`);
        await queryRunner.query(`CREATE TABLE "reservations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "api_key_id" uuid, "request_id" character varying(200), "amount" numeric(30,12) NOT NULL, "holds" jsonb NOT NULL, "status" character varying(16) NOT NULL DEFAULT 'ACTIVE', "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "closed_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_da95cef71b617ac35dc5bcda243" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_ea9ecedd029b9d302218892058" ON "reservations"  ("status", "expires_at") `);
        await queryRunner.query(`CREATE TABLE "idempotency_records" ("project_id" uuid NOT NULL, "request_id" character varying(200) NOT NULL, "status" character varying(16) NOT NULL, "response" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_8857f055648fd6c1bf04ccfe389" PRIMARY KEY ("project_id", "request_id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_b3482fdd761179f433dab212e7" ON "idempotency_records"  ("expires_at") `);
        await queryRunner.query(`CREATE TABLE "providers" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "name" character varying(100) NOT NULL, "kind" character varying(32) NOT NULL, "base_url" character varying(2000), "upstream_keys" jsonb NOT NULL DEFAULT '[]', "requests_per_minute" integer NOT NULL DEFAULT '1000', "max_concurrency" integer NOT NULL DEFAULT '64', "timeout_ms" integer NOT NULL DEFAULT '30000', "simulation" jsonb, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_4289e8c93c5681d5e22d1af7b01" UNIQUE ("project_id", "name"), CONSTRAINT "PK_af13fc2ebf382fe0dad2e4793aa" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE TABLE "models" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "provider_id" uuid NOT NULL, "name" character varying(200) NOT NULL, "upstream_name" character varying(200) NOT NULL, "prompt_price" numeric(18,6) NOT NULL, "completion_price" numeric(18,6) NOT NULL, "tiers" text array NOT NULL DEFAULT '{}', "enabled" boolean NOT NULL DEFAULT true, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_6e3194e9225ac29f8ae11b5eb90" UNIQUE ("project_id", "name"), CONSTRAINT "PK_ef9ed7160ea69013636466bf2d5" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE TABLE "usage_records" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "project_id" uuid NOT NULL, "api_key_id" uuid, "request_id" character varying(200) NOT NULL, "model_requested" character varying(200) NOT NULL, "model_served" character varying(200) NOT NULL, "provider" character varying(100) NOT NULL, "route_tier" character varying(16), "prompt_tokens" integer NOT NULL, "completion_tokens" integer NOT NULL, "total_tokens" integer NOT NULL, "cost" numeric(30,12) NOT NULL, "priced" boolean NOT NULL DEFAULT true, "gateway_latency_ms" integer NOT NULL, "upstream_latency_ms" integer NOT NULL, "attempts" integer NOT NULL DEFAULT '1', "outcome" character varying(32) NOT NULL, "error_code" character varying(64), "fallbacks" jsonb NOT NULL DEFAULT '[]', "downgraded" boolean NOT NULL DEFAULT false, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_e511cf9f7dc53851569f87467a5" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE INDEX "IDX_64ad44a7c2c11d6d62b4f759ba" ON "usage_records"  ("project_id", "api_key_id", "created_at") `);
        await queryRunner.query(`CREATE INDEX "IDX_73f3880b54731aed657f8a65df" ON "usage_records"  ("project_id", "created_at") `);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "FK_0ab4ea705a813fdebcc2b12ef2f" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_0b882c26a9b91c26e6e86b4867c" FOREIGN KEY ("endpoint_id") REFERENCES "webhook_endpoints"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_9623661c357591841e55a4863fd" FOREIGN KEY ("alert_id") REFERENCES "alerts"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "api_keys" ADD CONSTRAINT "FK_f5de07dbb229225e2be643ff3d0" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "budgets" ADD CONSTRAINT "FK_ece88bfd72296dfc861b87fff55" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "budgets" ADD CONSTRAINT "FK_2d5bb859eaa49254339c7b8db57" FOREIGN KEY ("api_key_id") REFERENCES "api_keys"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "budget_counters" ADD CONSTRAINT "FK_64e34849f81ebeb3178b5faf5f6" FOREIGN KEY ("budget_id") REFERENCES "budgets"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "providers" ADD CONSTRAINT "FK_d96d966c06ce75be947cd5b6118" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "models" ADD CONSTRAINT "FK_af1562929376541081d7178408a" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "models" ADD CONSTRAINT "FK_b640e473aed501ce32b6707c1fd" FOREIGN KEY ("provider_id") REFERENCES "providers"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "models" DROP CONSTRAINT "FK_b640e473aed501ce32b6707c1fd"`);
        await queryRunner.query(`ALTER TABLE "models" DROP CONSTRAINT "FK_af1562929376541081d7178408a"`);
        await queryRunner.query(`ALTER TABLE "providers" DROP CONSTRAINT "FK_d96d966c06ce75be947cd5b6118"`);
        await queryRunner.query(`ALTER TABLE "budget_counters" DROP CONSTRAINT "FK_64e34849f81ebeb3178b5faf5f6"`);
        await queryRunner.query(`ALTER TABLE "budgets" DROP CONSTRAINT "FK_2d5bb859eaa49254339c7b8db57"`);
        await queryRunner.query(`ALTER TABLE "budgets" DROP CONSTRAINT "FK_ece88bfd72296dfc861b87fff55"`);
        await queryRunner.query(`ALTER TABLE "api_keys" DROP CONSTRAINT "FK_f5de07dbb229225e2be643ff3d0"`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "FK_9623661c357591841e55a4863fd"`);
        await queryRunner.query(`ALTER TABLE "webhook_deliveries" DROP CONSTRAINT "FK_0b882c26a9b91c26e6e86b4867c"`);
        await queryRunner.query(`ALTER TABLE "webhook_endpoints" DROP CONSTRAINT "FK_0ab4ea705a813fdebcc2b12ef2f"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_73f3880b54731aed657f8a65df"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_64ad44a7c2c11d6d62b4f759ba"`);
        await queryRunner.query(`DROP TABLE "usage_records"`);
        await queryRunner.query(`DROP TABLE "models"`);
        await queryRunner.query(`DROP TABLE "providers"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_b3482fdd761179f433dab212e7"`);
        await queryRunner.query(`DROP TABLE "idempotency_records"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_ea9ecedd029b9d302218892058"`);
        await queryRunner.query(`DROP TABLE "reservations"`);
        await queryRunner.query(`DROP TABLE "budget_counters"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_cce44d3ce5ae3e1057d35f6e45"`);
        await queryRunner.query(`DROP TABLE "budgets"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_57384430aa1959f4578046c9b8"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_f5de07dbb229225e2be643ff3d"`);
        await queryRunner.query(`DROP TABLE "api_keys"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_284017efc3cbfe592288749a9c"`);
        await queryRunner.query(`DROP TABLE "webhook_deliveries"`);
        await queryRunner.query(`DROP TABLE "webhook_endpoints"`);
        await queryRunner.query(`DROP TABLE "projects"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_f3e14557eaa1784606b3a7855a"`);
        await queryRunner.query(`DROP INDEX "public"."IDX_c62a07b16ed6f4bbdd2667007f"`);
        await queryRunner.query(`DROP TABLE "alerts"`);
    }

}

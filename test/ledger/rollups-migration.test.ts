import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { UsageRollups1796126380500 } from '../../migrations/1796126380500-UsageRollups';
import { createDataSource } from '../../src/db/data-source';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { rollupDrift, rollupRows } from '../support/rollups';

/**
 * A ledger written before the rollups existed: the migration that partitions usage_records and
 * adds usage_rollups keeps every record and rolls them all up, exactly, in its own transaction.
 */
describe('the UsageRollups migration on a ledger that already has records', () => {
  let database: TestDatabase;
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let url: string;
  const projects = ['6c1f0f0e-8f4e-4c1b-9b1e-0a0000000001', '6c1f0f0e-8f4e-4c1b-9b1e-0a0000000002'];

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    if (database.url) {
      url = database.url;
    } else {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-rollup-migration-'));
      embedded = await startEmbeddedDatabase(path.join(dataDir, 'pgdata'), 1);
      url = embedded.url;
    }
  }, 120_000);

  afterAll(async () => {
    await embedded?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    await database.drop();
  });

  /** The app's DataSource on one connection, with these migrations. */
  const open = async (migrations: typeof MIGRATIONS) => {
    const db = new DataSource({ ...createDataSource(url, 1).options, migrations });
    await db.initialize();
    return { db, close: () => db.destroy() };
  };

  it('keeps every record, partitions them by month and rolls them up exactly', async () => {
    const before = MIGRATIONS.slice(0, MIGRATIONS.indexOf(UsageRollups1796126380500));
    const old = await open(before);
    try {
      await old.db.runMigrations({ transaction: 'all' });
      // 3,000 records over the 14 months before now, two projects, keys, tiers, kinds and outcomes
      await old.db.query(
        `INSERT INTO usage_records (project_id, api_key_id, request_id, kind, model_requested, model_served,
                                    provider, route_tier, prompt_tokens, completion_tokens, total_tokens,
                                    cached_prompt_tokens, cache_write_tokens, reasoning_tokens, cost, cache_savings,
                                    priced, gateway_latency_ms, upstream_latency_ms, outcome, created_at)
         SELECT ($1::uuid[])[1 + g % 2], CASE WHEN g % 3 = 0 THEN NULL ELSE md5((g % 3)::text)::uuid END,
                'r' || g, CASE WHEN g % 10 = 0 THEN 'EMBEDDING' ELSE 'CHAT' END, 'auto',
                'model-' || (g % 4), 'p', (ARRAY['SIMPLE', 'COMPLEX', NULL])[1 + g % 3], 100 + g % 97, g % 53,
                100 + g % 97 + g % 53, g % 31, g % 7, g % 5, (g % 1000) * 0.000000123456, (g % 11) * 0.000000001,
                g % 17 <> 0, g % 500, g % 400, (ARRAY['SUCCESS', 'SUCCESS', 'UPSTREAM_ERROR', 'ABANDONED'])[1 + g % 4],
                now() - (g * interval '3 hours 17 minutes 11.123 seconds')
           FROM generate_series(1, 3000) AS g`,
        [projects],
      );
    } finally {
      await old.close();
    }

    const current = await open(MIGRATIONS);
    try {
      await migrate(current.db, false);
      const [records] = (await current.db.query(
        `SELECT count(*)::int AS n, count(DISTINCT id)::int AS ids, min(created_at) AS oldest,
                count(*) FILTER (WHERE tableoid = 'usage_records_default'::regclass)::int AS "default"
           FROM usage_records`,
      )) as { n: number; ids: number; oldest: Date; default: number }[];
      expect(records).toMatchObject({ n: 3000, ids: 3000, default: 0 });
      // a partition for every month from the oldest record's to two months ahead
      const [partitions] = (await current.db.query(
        `SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'usage_records'::regclass AND c.relname <> 'usage_records_default'`,
      )) as { n: number }[];
      const now = new Date();
      const oldest = records!.oldest;
      const months =
        (now.getUTCFullYear() - oldest.getUTCFullYear()) * 12 + now.getUTCMonth() - oldest.getUTCMonth() + 3;
      expect(partitions!.n).toBe(months);

      expect(await rollupDrift(current.db, projects)).toEqual([]);
      expect((await rollupRows(current.db, projects)).unfolded).toBe(0);
      // the triggers carry on from there
      await current.db.query(
        `DELETE FROM usage_records WHERE outcome = 'ABANDONED' AND request_id LIKE 'r1%'`,
      );
      expect(await rollupDrift(current.db, projects)).toEqual([]);
    } finally {
      await current.close();
    }
  });

  it('runs down again to the unpartitioned table, every record kept', async () => {
    const current = await open(MIGRATIONS);
    try {
      const [before] = (await current.db.query(`SELECT count(*)::int AS n FROM usage_records`)) as {
        n: number;
      }[];
      // this one, and first any added after it
      const undo = MIGRATIONS.length - MIGRATIONS.indexOf(UsageRollups1796126380500);
      for (let i = 0; i < undo; i++) await current.db.undoLastMigration({ transaction: 'all' });
      const [after] = (await current.db.query(
        `SELECT count(*)::int AS n, (SELECT relkind::text FROM pg_class WHERE relname = 'usage_records') AS kind,
                to_regclass('usage_rollups') IS NULL AS rollups_gone
           FROM usage_records`,
      )) as { n: number; kind: string; rollups_gone: boolean }[];
      expect(after).toEqual({ n: before!.n, kind: 'r', rollups_gone: true });
      // and up again, through the app's migrate (migrations, then the SQL functions)
      await migrate(current.db, false);
      expect(await rollupDrift(current.db, projects)).toEqual([]);
    } finally {
      await current.close();
    }
  });
});

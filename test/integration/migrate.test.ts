import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../src/db/data-source';
import { startEmbeddedDatabase, type EmbeddedDatabase } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * A build starting on a database a newer build has already migrated (a rolling deploy, a rollback)
 * must not put its older SQL functions back over the newer ones; a build as new as the database
 * applies its own.
 */
describe('migrating at boot', () => {
  let database: TestDatabase;
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let db: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase({ migrated: false });
    let url = database.url;
    if (!url) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-migrate-'));
      embedded = await startEmbeddedDatabase(path.join(dataDir, 'pgdata'), 1);
      url = embedded.url;
    }
    db = createDataSource(url, 1);
    await db.initialize();
    await migrate(db, false);
  }, 120_000);

  afterAll(async () => {
    await db?.destroy();
    await embedded?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    await database.drop();
  });

  const checksum = async () =>
    (
      (await db.query(`SELECT checksum FROM sql_functions WHERE name = 'tollgate_sweep_holds'`)) as {
        checksum: string;
      }[]
    )[0]!.checksum;
  const warnings: unknown[][] = [];
  const log = { warn: (...args: unknown[]) => warnings.push(args) } as unknown as Parameters<
    typeof migrate
  >[2];

  it("an older build leaves a newer build's functions alone; a build as new as the database applies its own", async () => {
    const own = await checksum();
    // what a newer build would have left: a migration this one does not know, a function of its own
    await db.query(
      `INSERT INTO migrations ("timestamp", name) VALUES (9999999999999, 'FromANewerBuild9999999999999')`,
    );
    await db.query(`UPDATE sql_functions SET checksum = 'newer' WHERE name = 'tollgate_sweep_holds'`);
    await migrate(db, false, log);
    expect(await checksum()).toBe('newer');
    expect(warnings).toEqual([
      [{ migrations: ['FromANewerBuild9999999999999'] }, expect.stringContaining('left as they are')],
    ]);
    await db.query(`DELETE FROM migrations WHERE name = 'FromANewerBuild9999999999999'`);
    await migrate(db, false, log);
    expect(await checksum()).toBe(own);
    expect(warnings).toHaveLength(1);
  });
});

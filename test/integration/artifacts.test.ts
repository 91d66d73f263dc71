import fs from 'node:fs';
import path from 'node:path';
import { currentSdl } from '../../scripts/emit-schema';
import { createDataSource } from '../../src/db/data-source';
import { createTestDatabase } from '../support/database';

describe('committed artifacts', () => {
  it('schema/schema.graphql is the SDL the resolvers build (run `npm run emit:schema` when this fails)', async () => {
    const committed = fs.readFileSync(path.join(__dirname, '..', '..', 'schema', 'schema.graphql'), 'utf8');
    expect(committed).toBe(await currentSdl());
  });

  const withPostgres = process.env.DATABASE_URL ? it : it.skip;
  withPostgres('the migrations build exactly the schema the entities describe', async () => {
    const database = await createTestDatabase({ migrated: false });
    const ds = createDataSource(database.url!, 2);
    try {
      await ds.initialize();
      await ds.runMigrations();
      const pending = await ds.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
    } finally {
      if (ds.isInitialized) await ds.destroy();
      await database.drop();
    }
  });
});

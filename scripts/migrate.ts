import 'reflect-metadata';
import { createDataSource } from '../src/db/data-source';
import { migrate } from '../src/db/migrate';

// `npm run migration:run`: the migrations and the SQL functions, exactly as the server applies them at start.
async function main(): Promise<void> {
  const db = createDataSource(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tollgate', 2);
  await db.initialize();
  try {
    await migrate(db, true);
  } finally {
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

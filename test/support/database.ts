import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { createDataSource } from '../../src/db/data-source';
import { migrate } from '../../src/db/migrate';

/**
 * A database of its own for one test file. With DATABASE_URL (real Postgres), a fresh database
 * with a unique name on that server, dropped by `drop()`: by default a copy of a template that was
 * migrated once for this version of the migrations and SQL functions (CREATE DATABASE ... TEMPLATE,
 * so a file does not migrate from scratch), or an empty one with `{ migrated: false }`. Without
 * DATABASE_URL, undefined: the app then runs on its embedded PGlite in a temporary folder.
 */
export interface TestDatabase {
  url: string | undefined;
  drop(): Promise<void>;
}

const ROOT = path.join(__dirname, '..', '..');
const TEMPLATE_LOCK = 7411002;

export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const admin = process.env.DATABASE_URL;
  if (!admin) return { url: undefined, drop: async () => undefined };
  const template = options.migrated === false ? null : await migratedTemplate(admin);
  const name = `tollgate_test_${Date.now().toString(36)}_${crypto.randomBytes(4).toString('hex')}`;
  await withClient(admin, async (client) => {
    if (!template) return void (await client.query(`CREATE DATABASE ${name}`));
    // Copies from one template are taken in turn: a copy fails while another session uses the template.
    await client.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      await client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  return {
    url: urlOf(admin, name),
    drop: async () => {
      await withClient(admin, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/**
 * The name of a database migrated to the current migrations and SQL functions, made on first use
 * (under an advisory lock, so parallel test workers make it once); older templates are dropped.
 */
async function migratedTemplate(admin: string): Promise<string> {
  const name = `tollgate_template_${schemaVersion()}`;
  await withClient(admin, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    try {
      const { rows } = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE 'tollgate_template_%'`,
      );
      if (rows.some((r) => r.datname === name)) return;
      for (const old of rows) await client.query(`DROP DATABASE IF EXISTS ${old.datname} WITH (FORCE)`);
      await client.query(`CREATE DATABASE ${name}`);
      const db = createDataSource(urlOf(admin, name), 1);
      try {
        await db.initialize();
        await migrate(db, false);
      } catch (error) {
        if (db.isInitialized) await db.destroy();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        throw error;
      }
      await db.destroy();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
    }
  });
  return name;
}

/** A hash of everything that shapes the schema: the migrations and the SQL function files. */
function schemaVersion(): string {
  const hash = crypto.createHash('sha256');
  for (const dir of ['migrations', 'src/db/sql']) {
    for (const file of fs.readdirSync(path.join(ROOT, dir)).sort()) {
      hash.update(file).update(fs.readFileSync(path.join(ROOT, dir, file)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

function urlOf(admin: string, database: string): string {
  const url = new URL(admin);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

import fs from 'node:fs';
import net from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * PGlite's memory is WebAssembly memory, which grows and never shrinks: Postgres' default shared
 * buffers (128 MB) and maintenance memory (64 MB, index builds in the migrations) would stay
 * resident for the life of the process. A local gateway's database is small; these fit it.
 */
const MEMORY_SETTINGS = [
  'shared_buffers=16MB',
  'maintenance_work_mem=16MB',
  'work_mem=2MB',
  'temp_buffers=2MB',
];

/**
 * Embedded Postgres: PGlite with its data in `dataDir`, served on a loopback port through
 * pglite-socket so the ordinary `pg` driver (and TypeORM) talks to it like any Postgres.
 * PGlite runs one query at a time; the socket server queues the rest.
 */
export async function startEmbeddedDatabase(
  dataDir: string,
  maxConnections: number,
): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create({
    dataDir,
    startParams: [...PGlite.defaultStartParams, ...MEMORY_SETTINGS.flatMap((setting) => ['-c', setting])],
  });
  const port = await freePort();
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: maxConnections + 4 });
  await server.start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

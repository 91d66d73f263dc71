import pg from 'pg';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { SnakeNamingStrategy } from '../shared/columns';
import { ENTITIES } from './entities';

/**
 * The one way the app, the CLI and the tests build a DataSource: migrations, never synchronize.
 * With `pool`, TypeORM works on that pool instead of making its own (the embedded database, where
 * the ledger and TypeORM must share its one connection).
 */
export function createDataSource(url: string, poolSize = 10, pool?: pg.Pool): DataSource {
  return new DataSource({
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    namingStrategy: new SnakeNamingStrategy(),
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    synchronize: false,
    migrationsRun: false,
    // TypeORM's `driver` option: the pg module it uses, here one whose Pool is the given pool.
    ...(pool ? { driver: { ...pg, Pool: sharedPool(pool) } } : {}),
    // A connection that cannot be had in 10 s (the server down, the pool exhausted) fails the
    // statement rather than waiting forever.
    extra: { max: poolSize, connectionTimeoutMillis: 10_000 },
  });
}

/** A pg.Pool "constructor" that hands out an existing pool (a constructor may return an object). */
function sharedPool(pool: pg.Pool): new () => pg.Pool {
  return function SharedPool() {
    return pool;
  } as unknown as new () => pg.Pool;
}

/**
 * A pool of the ledger's own (or the one the embedded database allows). An idle connection the
 * server drops (a restart) is an 'error' event on the pool: without a listener it would end the
 * process; the pool replaces the connection on the next query.
 *
 * The embedded database's one connection is never closed for being idle: PGlite has one session
 * whatever the sockets, so a connection opened after an idle one closed would find the prepared
 * statements of the old one still there ("prepared statement already exists").
 */
export function createPool(
  url: string,
  max: number,
  onIdleError: (error: Error) => void = () => undefined,
  embedded = false,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 10_000,
    ...(embedded ? { idleTimeoutMillis: 0 } : {}),
  });
  pool.on('error', onIdleError);
  return pool;
}

import { DataSource } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { SnakeNamingStrategy } from './columns';
import { ENTITIES } from './entities';

/** The one way the app, the CLI and the tests build a DataSource: migrations, never synchronize. */
export function createDataSource(url: string, poolSize = 10): DataSource {
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
    // A connection that cannot be had in 10 s (the server down, the pool exhausted) fails the
    // statement rather than waiting forever.
    extra: { max: poolSize, connectionTimeoutMillis: 10_000 },
  });
}

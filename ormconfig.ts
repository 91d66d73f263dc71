import 'reflect-metadata';
import { createDataSource } from './src/db/data-source';

// The TypeORM CLI's one DataSource (migration:generate / migration:run). It needs a real
// Postgres: DATABASE_URL, or the local server on 127.0.0.1:5432 with the `tollgate` database.
export default createDataSource(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/tollgate');

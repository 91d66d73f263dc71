import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import type { Logger } from '../../shared/logger';
import type { Caller } from './auth.service';
import { ApiKey } from './api-key.entity';

/** Batched reads, made fresh for each request (never shared between requests). */
export interface Loaders {
  apiKey: DataLoader<string, ApiKey | null>;
}

/** What every GraphQL operation runs with: who calls, and per-request loaders. */
export interface Context extends Caller {
  loaders: Loaders;
  /** The request's logger (its lines carry the request's id), where the server made one. */
  log?: Logger;
  /** Aborted when the client goes away (HTTP request closed). */
  signal?: AbortSignal;
  /** For the call's trace: the client's W3C traceparent, and when the request came and was authenticated (epoch ms). */
  trace?: { traceparent: string | undefined; receivedAt: number; authenticatedAt: number };
}

export function createLoaders(db: DataSource): Loaders {
  return {
    apiKey: new DataLoader(async (ids) => {
      const keys = await db.getRepository(ApiKey).find({ where: { id: In([...ids]) } });
      const byId = new Map(keys.map((k) => [k.id, k]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}

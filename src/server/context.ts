import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import type { CompletionService } from '../modules/completions/completion.service';
import type { Caller } from '../modules/projects/auth.service';
import { ApiKey } from '../modules/projects/api-key.entity';

/** Batched reads, made fresh for each request (never shared between requests). */
export interface Loaders {
  apiKey: DataLoader<string, ApiKey | null>;
}

export interface Context extends Caller {
  loaders: Loaders;
  /** Aborted when the client goes away (HTTP request closed). */
  signal?: AbortSignal;
  /** For streamed completions (a subscription's source is built outside any resolver instance). */
  completions?: CompletionService;
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

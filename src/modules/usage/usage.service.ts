import type { DataSource } from 'typeorm';
import { BadInputError } from '../../shared/errors';
import { parseUsd, type Pico } from '../../shared/money';
import type { UsageRecord } from './usage-record.entity';
import { sliceParams, sliceRange, usageRowsSql } from './usage-source';

/** How usage totals are grouped: by served model, UTC day, API key, route (tier:model), or kind (CHAT, EMBEDDING). */
export const UsageGroupBy = {
  MODEL: 'MODEL',
  DAY: 'DAY',
  API_KEY: 'API_KEY',
  ROUTE: 'ROUTE',
  KIND: 'KIND',
} as const;
export type UsageGroupBy = (typeof UsageGroupBy)[keyof typeof UsageGroupBy];

export interface UsageGroup {
  key: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** Of the prompt tokens, read from and written to the provider's cache. */
  cachedPromptTokens: number;
  cacheWriteTokens: number;
  /** Of the completion tokens, spent reasoning. */
  reasoningTokens: number;
  cost: Pico;
  /** What the provider's cache saved against the full prompt price. */
  cacheSavings: Pico;
}

export interface UsageRange {
  from: Date;
  to: Date;
  groupBy: UsageGroupBy;
  apiKeyId?: string | null;
}

const GROUP_SQL: Record<UsageGroupBy, string> = {
  MODEL: 'model_served',
  DAY: "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  API_KEY: "coalesce(api_key_id::text, '')",
  ROUTE: "coalesce(route_tier, 'EXPLICIT') || ':' || model_served",
  KIND: 'kind',
};

/**
 * The usage records' reports (the records are written by the ledger: budgets/ledger.ts), summed
 * from the hourly and daily rollups plus the records of the partial hours at the range's edges
 * (usage-source.ts), so they read as fast over a year as over a day.
 */
export class UsageService {
  constructor(private readonly db: DataSource) {}

  async totals(projectId: string, range: UsageRange): Promise<UsageGroup[]> {
    checkRange(range.from, range.to);
    const group = GROUP_SQL[range.groupBy];
    const rows: {
      key: string;
      requests: string;
      prompt_tokens: string;
      completion_tokens: string;
      cached_prompt_tokens: string;
      cache_write_tokens: string;
      reasoning_tokens: string;
      cost: string;
      cache_savings: string;
    }[] = await this.db.query(
      `SELECT ${group} AS key, sum(requests) AS requests, sum(prompt_tokens) AS prompt_tokens,
              sum(completion_tokens) AS completion_tokens, sum(cached_prompt_tokens) AS cached_prompt_tokens,
              sum(cache_write_tokens) AS cache_write_tokens, sum(reasoning_tokens) AS reasoning_tokens,
              sum(cost) AS cost, sum(cache_savings) AS cache_savings
         FROM ${usageRowsSql('$8::uuid IS NULL OR api_key_id = $8')} u
        GROUP BY 1 HAVING sum(requests) > 0 ORDER BY 1`,
      [projectId, ...sliceParams(sliceRange(range.from, range.to)), range.apiKeyId ?? null],
    );
    return rows.map((r) => ({
      key: r.key,
      requests: Number(r.requests),
      promptTokens: Number(r.prompt_tokens),
      completionTokens: Number(r.completion_tokens),
      totalTokens: Number(r.prompt_tokens) + Number(r.completion_tokens),
      cachedPromptTokens: Number(r.cached_prompt_tokens),
      cacheWriteTokens: Number(r.cache_write_tokens),
      reasoningTokens: Number(r.reasoning_tokens),
      cost: parseUsd(r.cost),
      cacheSavings: parseUsd(r.cache_savings),
    }));
  }

  /** Newest first, keyset-paged by (created_at, id). */
  async page(
    projectId: string,
    first: number,
    after: string | null | undefined,
    apiKeyId?: string | null,
  ): Promise<{ records: UsageRecord[]; hasNextPage: boolean }> {
    if (!Number.isInteger(first) || first < 1 || first > 500)
      throw new BadInputError('first must be 1 to 500', 'first');
    const cursor = after ? decodeCursor(after) : null;
    const qb = this.db
      .getRepository<UsageRecord>('UsageRecord')
      .createQueryBuilder('u')
      .where('u.project_id = :projectId', { projectId })
      .orderBy('u.created_at', 'DESC')
      .addOrderBy('u.id', 'DESC')
      .limit(first + 1);
    if (apiKeyId) qb.andWhere('u.api_key_id = :apiKeyId', { apiKeyId });
    if (cursor) {
      qb.andWhere('(u.created_at, u.id) < (:at, :id)', { at: cursor.at, id: cursor.id });
    }
    const rows = await qb.getMany();
    return { records: rows.slice(0, first), hasNextPage: rows.length > first };
  }
}

export function encodeCursor(record: Pick<UsageRecord, 'createdAt' | 'id'>): string {
  return Buffer.from(`${record.createdAt.toISOString()}|${record.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } {
  const [at = '', id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at);
  if (!id || Number.isNaN(date.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new BadInputError('Invalid cursor', 'after');
  }
  return { at: date, id };
}

function checkRange(from: Date, to: Date): void {
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
    throw new BadInputError('from must be before to', 'from');
  }
}

import { IsNull, type DataSource, type EntityManager } from 'typeorm';
import { BadInputError, NotFoundError } from '../../shared/errors';
import { assertOwner, type ChangeOptions } from '../../shared/managed';
import { formatUsd, maxPico, parseUsd, ratio, type Pico } from '../../shared/money';
import { ApiKey } from '../projects/api-key.entity';
import { Budget, DEFAULT_THRESHOLDS, type BudgetPeriod, type BudgetPolicy } from './budget.entity';
import { isValidTimeZone, windowAt, type Window } from './period';
import { project, type Projection } from './projection';
import type { CounterRow } from './counters';

/** Far above any real budget, and well inside the NUMERIC(30,12) column. */
const MAX_LIMIT = parseUsd('1000000000000');

export interface BudgetInput {
  apiKeyId?: string | null;
  period: BudgetPeriod;
  limitUsd: string;
  timeZone?: string | null;
  thresholds?: number[] | null;
  policy?: BudgetPolicy | null;
}

/** A budget as a configuration file makes it: its owner, and its name in the file (budgets have none). */
export interface BudgetOptions extends ChangeOptions {
  configKey?: string;
}

export interface BudgetStatus {
  budget: Budget;
  window: Window;
  spent: Pico;
  reserved: Pico;
  remaining: Pico;
  utilization: number;
  promptTokens: number;
  completionTokens: number;
  requests: number;
  projection: Projection;
}

export class BudgetService {
  constructor(private readonly db: DataSource) {}

  async create(projectId: string, input: BudgetInput, options: BudgetOptions = {}): Promise<Budget> {
    const repo = this.db.getRepository(Budget);
    if (
      input.apiKeyId &&
      !(await this.db.getRepository(ApiKey).exists({ where: { id: input.apiKeyId, projectId } }))
    ) {
      throw new BadInputError('apiKeyId is not a key of this project', 'apiKeyId');
    }
    const fields = checkBudget(input);
    return this.db.transaction(async (em) => {
      const budget = await em.getRepository(Budget).save(
        repo.create({
          projectId,
          apiKeyId: input.apiKeyId ?? null,
          ...fields,
          managedBy: options.owner ?? null,
          configKey: options.configKey ?? null,
        }),
      );
      await this.startFromLedger(em, budget, new Date());
      return budget;
    });
  }

  /**
   * A budget created mid-period starts from what its scope already spent in the current window,
   * summed from the ledger (a $10/day budget added at 3 pm to a key that spent $8 since midnight
   * has $2 left). A call is never counted twice: calls reserved before the budget existed do not hold
   * on it, so one that settles while the budget is being created lands in neither (a known, small gap).
   */
  private async startFromLedger(em: EntityManager, budget: Budget, now: Date): Promise<void> {
    const window = windowAt(now, budget.period, budget.timeZone);
    await em.query(
      `INSERT INTO budget_counters (budget_id, period_start, spent, prompt_tokens, completion_tokens, requests)
       SELECT $1, $2, coalesce(sum(cost), 0), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
              count(*) FILTER (WHERE outcome <> 'UPSTREAM_ERROR' OR completion_tokens > 0)
         FROM usage_records
        WHERE project_id = $3 AND ($4::uuid IS NULL OR api_key_id = $4) AND created_at >= $2 AND created_at < $5
       ON CONFLICT DO NOTHING`,
      [budget.id, window.start.toISOString(), budget.projectId, budget.apiKeyId, window.end.toISOString()],
    );
  }

  async update(
    projectId: string,
    id: string,
    input: Partial<BudgetInput>,
    options: BudgetOptions = {},
  ): Promise<Budget> {
    const repo = this.db.getRepository(Budget);
    const budget = await repo.findOne({ where: { id, projectId } });
    if (!budget) throw new NotFoundError('Budget');
    assertOwner(`Budget "${budget.configKey ?? budget.id}"`, budget.managedBy, options);
    const merged = checkBudget({
      period: input.period ?? budget.period,
      limitUsd: input.limitUsd ?? formatUsd(budget.limitUsd),
      timeZone: input.timeZone ?? budget.timeZone,
      thresholds: input.thresholds ?? budget.thresholds,
      policy: input.policy ?? budget.policy,
    });
    return repo.save({
      ...budget,
      ...merged,
      managedBy: options.owner ?? null,
      configKey: options.owner ? (options.configKey ?? budget.configKey) : null,
    });
  }

  async delete(projectId: string, id: string, options: ChangeOptions = {}): Promise<boolean> {
    const repo = this.db.getRepository(Budget);
    const budget = await repo.findOne({ where: { id, projectId } });
    if (!budget) throw new NotFoundError('Budget');
    assertOwner(`Budget "${budget.configKey ?? budget.id}"`, budget.managedBy, options);
    await repo.delete({ id: budget.id });
    return true;
  }

  /** A project's budgets; with `apiKeyId`, only that key's (null: only the project-wide ones). */
  list(projectId: string, apiKeyId?: string | null): Promise<Budget[]> {
    return this.db.getRepository(Budget).find({
      where: apiKeyId === undefined ? { projectId } : { projectId, apiKeyId: apiKeyId ?? IsNull() },
      order: { createdAt: 'ASC' },
    });
  }

  /** Current-window status of each budget of a project (one query for all counters). */
  async statuses(projectId: string, now = new Date(), budgetId?: string): Promise<BudgetStatus[]> {
    const budgets = (await this.list(projectId)).filter((b) => !budgetId || b.id === budgetId);
    if (budgetId && budgets.length === 0) throw new NotFoundError('Budget');
    if (budgets.length === 0) return [];
    const current = budgets.map((budget) => ({
      budget,
      window: windowAt(now, budget.period, budget.timeZone),
    }));
    const rows: (CounterRow & { budget_id: string })[] = await this.db.query(
      `SELECT c.budget_id, c.spent, c.reserved, c.prompt_tokens, c.completion_tokens, c.requests
         FROM budget_counters c JOIN unnest($1::uuid[], $2::timestamptz[]) AS w(budget_id, period_start)
           ON c.budget_id = w.budget_id AND c.period_start = w.period_start`,
      [current.map((c) => c.budget.id), current.map((c) => c.window.start.toISOString())],
    );
    const byBudget = new Map(rows.map((r) => [r.budget_id, r]));
    return current.map(({ budget, window }) => {
      const row = byBudget.get(budget.id);
      const spent = row ? parseUsd(row.spent) : 0n;
      const reserved = row ? parseUsd(row.reserved) : 0n;
      return {
        budget,
        window,
        spent,
        reserved,
        remaining: maxPico(budget.limitUsd - spent - reserved, 0n),
        utilization: ratio(spent, budget.limitUsd),
        promptTokens: row ? Number(row.prompt_tokens) : 0,
        completionTokens: row ? Number(row.completion_tokens) : 0,
        requests: row?.requests ?? 0,
        projection: project(spent, window, now),
      };
    });
  }
}

/** A budget's period, limit, zone, thresholds and policy as the API checks them. Pure: a configuration file is checked with it too. */
export function checkBudget(
  input: BudgetInput,
): Pick<Budget, 'period' | 'limitUsd' | 'timeZone' | 'thresholds' | 'policy'> {
  if (input.period !== 'DAILY' && input.period !== 'MONTHLY')
    throw new BadInputError('Unknown period', 'period');
  let limit: Pico;
  try {
    limit = parseUsd(input.limitUsd);
  } catch {
    throw new BadInputError('limitUsd must be a decimal USD amount', 'limitUsd');
  }
  if (limit <= 0n) throw new BadInputError('limitUsd must be positive', 'limitUsd');
  if (limit > MAX_LIMIT)
    throw new BadInputError(`limitUsd must be at most ${formatUsd(MAX_LIMIT)}`, 'limitUsd');
  const timeZone = input.timeZone?.trim() || 'UTC';
  if (!isValidTimeZone(timeZone)) throw new BadInputError(`Unknown time zone "${timeZone}"`, 'timeZone');
  const thresholds = [...new Set(input.thresholds ?? DEFAULT_THRESHOLDS)].sort((a, b) => a - b);
  if (thresholds.some((t) => !(t > 0 && t <= 1))) {
    throw new BadInputError('thresholds must be within (0, 1]', 'thresholds');
  }
  const policy = input.policy ?? 'REJECT';
  if (policy !== 'REJECT' && policy !== 'DOWNGRADE') throw new BadInputError('Unknown policy', 'policy');
  return { period: input.period, limitUsd: limit, timeZone, thresholds, policy };
}

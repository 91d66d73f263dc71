import { DomainError } from '../../shared/errors';
import { formatUsd, type Pico } from '../../shared/money';
import type { BudgetPeriod, BudgetPolicy } from './budget.entity';

export interface BudgetShortfall {
  budgetId: string;
  period: BudgetPeriod;
  policy: BudgetPolicy;
  scope: 'PROJECT' | 'API_KEY';
  spent: Pico;
  reserved: Pico;
  limit: Pico;
  estimate: Pico;
}

/** A call whose worst-case cost does not fit a budget; carries the figures a client needs. */
export class BudgetExceededError extends DomainError {
  constructor(readonly shortfall: BudgetShortfall) {
    const current = shortfall.spent + shortfall.reserved;
    const projected = current + shortfall.estimate;
    super(
      'BUDGET_EXCEEDED',
      `The ${shortfall.period.toLowerCase()} budget would be exceeded: ` +
        `$${formatUsd(projected)} projected against a limit of $${formatUsd(shortfall.limit)}`,
      {
        budgetId: shortfall.budgetId,
        period: shortfall.period,
        scope: shortfall.scope,
        currentSpend: formatUsd(current),
        spent: formatUsd(shortfall.spent),
        reserved: formatUsd(shortfall.reserved),
        projectedSpend: formatUsd(projected),
        budgetLimit: formatUsd(shortfall.limit),
        shortfall: formatUsd(projected - shortfall.limit),
        estimatedCost: formatUsd(shortfall.estimate),
      },
    );
  }
}

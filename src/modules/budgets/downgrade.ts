import type { Pico } from '../../shared/money';
import type { Model } from '../providers/model.entity';
import { BudgetExceededError } from './budget.errors';
import type { Hold, HoldRequest, ReservationService } from './reservation.service';

/** The model a call holds its budgets for, and whether a DOWNGRADE budget moved it there. */
export interface HeldModel {
  model: Model;
  hold: Hold;
  downgraded: boolean;
}

/**
 * Holds the call's worst case on `model`. When a DOWNGRADE budget refuses it (and no REJECT budget
 * does), the call moves to the cheapest of `alternatives` whose worst case still fits, trying them
 * cheapest first; `alternatives` are the router's healthy models, so a downgrade never lands on an
 * open circuit. When none fits, the first refusal stands.
 */
export async function holdWithPolicy(
  reservations: ReservationService,
  model: Model,
  alternatives: readonly Model[],
  holdRequest: (model: Model) => HoldRequest,
): Promise<HeldModel> {
  const wanted = holdRequest(model);
  try {
    return { model, hold: await reservations.reserveHold(wanted), downgraded: false };
  } catch (error) {
    if (!(error instanceof BudgetExceededError) || error.shortfall.policy !== 'DOWNGRADE') throw error;
    const cheaper = alternatives
      .filter((m) => m !== model)
      .map((m) => ({ m, request: holdRequest(m) }))
      .filter((c) => c.request.amount < wanted.amount)
      .sort((a, b) => compare(a.request.amount, b.request.amount));
    for (const { m, request } of cheaper) {
      try {
        return { model: m, hold: await reservations.reserveHold(request), downgraded: true };
      } catch (inner) {
        if (!(inner instanceof BudgetExceededError) || inner.shortfall.policy !== 'DOWNGRADE') throw inner;
      }
    }
    throw error;
  }
}

function compare(a: Pico, b: Pico): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

import { type Pico } from '../../shared/money';
import type { Window } from './period';

export interface Projection {
  /** Spend expected by the end of the window at the current run rate. */
  projected: Pico;
  /** The rate used, per day, in pico-dollars. */
  ratePerDay: Pico;
  daysElapsed: number;
  daysInPeriod: number;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/**
 * Run-rate projection: spend / elapsed x length. Early in a window the elapsed time is floored
 * (one hour, or a tenth of the window if longer), so one call in the first minute does not
 * project an absurd figure (at most 11x the spend of a daily or monthly window), and nothing divides
 * by zero (an empty window projects what was spent).
 */
export function project(spent: Pico, window: Window, now: Date): Projection {
  const length = window.end.getTime() - window.start.getTime();
  if (!(length > 0)) return { projected: spent, ratePerDay: 0n, daysElapsed: 0, daysInPeriod: 0 };
  const elapsedRaw = Math.min(Math.max(now.getTime() - window.start.getTime(), 0), length);
  const floor = Math.min(length, Math.max(HOUR_MS, length / 10));
  const elapsed = Math.max(elapsedRaw, floor);
  const remaining = length - elapsedRaw;
  // spent + rate x remaining, in integer milliseconds so the arithmetic stays exact
  const projected = spent + (spent * BigInt(Math.round(remaining))) / BigInt(Math.round(elapsed));
  return {
    projected,
    ratePerDay: (spent * BigInt(DAY_MS)) / BigInt(Math.round(elapsed)),
    daysElapsed: elapsedRaw / DAY_MS,
    daysInPeriod: length / DAY_MS,
  };
}

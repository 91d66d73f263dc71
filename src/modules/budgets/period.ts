import type { BudgetPeriod } from './budget.entity';

/** A calendar window [start, end) in a time zone, as UTC instants. */
export interface Window {
  start: Date;
  end: Date;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock parts of an instant in a zone. */
function localParts(instant: number, timeZone: string): { y: number; m: number; d: number; ms: number } {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return { y: parts.year, m: parts.month, d: parts.day, ms: asUtc };
}

/** The UTC instant at which the zone's wall clock reads y-m-d 00:00 (DST-safe). */
function localMidnight(y: number, m: number, d: number, timeZone: string): number {
  const wall = Date.UTC(y, m - 1, d);
  let guess = wall;
  for (let i = 0; i < 3; i++) {
    const offset = localParts(guess, timeZone).ms - guess;
    const next = wall - offset;
    if (next === guess) break;
    guess = next;
  }
  return guess;
}

export function windowAt(at: Date, period: BudgetPeriod, timeZone: string): Window {
  const { y, m, d } = localParts(at.getTime(), timeZone);
  if (period === 'DAILY') {
    const next = new Date(Date.UTC(y, m - 1, d + 1));
    return {
      start: new Date(localMidnight(y, m, d, timeZone)),
      end: new Date(
        localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone),
      ),
    };
  }
  const next = new Date(Date.UTC(y, m, 1));
  return {
    start: new Date(localMidnight(y, m, 1, timeZone)),
    end: new Date(localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, 1, timeZone)),
  };
}

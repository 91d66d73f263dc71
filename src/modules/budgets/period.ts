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
  const parts = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of formatter(timeZone).formatToParts(new Date(instant))) {
    if (p.type in parts) parts[p.type as keyof typeof parts] = Number(p.value);
  }
  const asUtc = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return { y: parts.year, m: parts.month, d: parts.day, ms: asUtc };
}

const DAY_MS = 86_400_000;

/**
 * The first instant of the zone's calendar day y-m-d, as UTC milliseconds. Usually the instant its
 * wall clock reads 00:00; when 00:00 happens twice (a fall-back at midnight), the first of them;
 * when it never happens (a spring-forward at midnight, as in Cairo or Santiago), the transition.
 */
function localMidnight(y: number, m: number, d: number, timeZone: string): number {
  const wall = Date.UTC(y, m - 1, d);
  // Every offset the zone uses within a day of that midnight: one, or the two either side of a change.
  const offsets = new Set([wall - DAY_MS, wall, wall + DAY_MS].map((t) => localParts(t, timeZone).ms - t));
  const candidates = [...offsets].map((offset) => wall - offset).sort((a, b) => a - b);
  const exact = candidates.find((t) => localParts(t, timeZone).ms === wall);
  if (exact !== undefined) return exact;
  // Midnight falls in a gap: the day starts when the wall clock jumps past it. Bisect to the second.
  // (candidates has one to three entries: the offsets of three instants)
  let before = candidates[0]!;
  let after = candidates[candidates.length - 1]!;
  while (after - before > 1000) {
    const mid = before + Math.max(1000, Math.floor((after - before) / 2000) * 1000);
    if (localParts(mid, timeZone).ms >= wall) after = mid;
    else before = mid;
  }
  return after;
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

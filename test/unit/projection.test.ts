import { windowAt } from '../../src/modules/budgets/period';
import { project } from '../../src/modules/budgets/projection';
import { formatUsd, parseUsd } from '../../src/shared/money';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('project: month-end (period-end) spend at the current run rate', () => {
  const april = windowAt(new Date('2024-04-15T00:00:00Z'), 'MONTHLY', 'UTC'); // 30 days
  const at = (ms: number) => new Date(april.start.getTime() + ms);

  it('extrapolates linearly and exactly mid-period', () => {
    const p = project(parseUsd('10'), april, at(15 * DAY));
    expect(formatUsd(p.projected)).toBe('20');
    expect(formatUsd(p.ratePerDay)).toBe('0.666666666666'); // integer pico-dollars, truncated
    expect(p.daysElapsed).toBe(15);
    expect(p.daysInPeriod).toBe(30);
    expect(formatUsd(project(parseUsd('3'), april, at(10 * DAY)).projected)).toBe('9');
  });

  it('does not divide by zero at the first instant of a period, nor before it', () => {
    for (const now of [at(0), at(-5 * DAY)]) {
      const p = project(parseUsd('1'), april, now);
      expect(p.daysElapsed).toBe(0);
      expect(p.projected).toBeGreaterThan(0n);
      expect(p.projected).toBeLessThanOrEqual(parseUsd('11'));
    }
  });

  it('does not project an absurd figure from one call in the first minutes', () => {
    // $1 in the first minute of a 30-day month: a naive run rate would say $43,200.
    for (const elapsed of [1_000, MINUTE, 10 * MINUTE, HOUR]) {
      const p = project(parseUsd('1'), april, at(elapsed));
      expect(p.projected).toBeLessThanOrEqual(parseUsd('11'));
      expect(p.projected).toBeGreaterThanOrEqual(parseUsd('1'));
      expect(p.ratePerDay).toBeLessThanOrEqual(parseUsd('1'));
    }
    const day = windowAt(new Date('2024-04-15T12:00:00Z'), 'DAILY', 'UTC');
    const p = project(parseUsd('1'), day, new Date(day.start.getTime() + MINUTE));
    expect(p.projected).toBeLessThanOrEqual(parseUsd('11'));
  });

  it('is continuous where the early floor ends (a tenth of the window)', () => {
    const floor = 3 * DAY;
    const before = project(parseUsd('1'), april, at(floor - 1));
    const after = project(parseUsd('1'), april, at(floor + 1));
    expect(formatUsd(before.projected)).toMatch(/^10(\.0+\d*)?$/);
    expect(after.projected).toBeLessThanOrEqual(before.projected);
    expect(before.projected - after.projected).toBeLessThan(parseUsd('0.001'));
  });

  it('projects what was spent at and after the end of the period', () => {
    expect(formatUsd(project(parseUsd('7.5'), april, at(30 * DAY)).projected)).toBe('7.5');
    expect(formatUsd(project(parseUsd('7.5'), april, at(45 * DAY)).projected)).toBe('7.5');
  });

  it('projects nothing from nothing, and survives an empty or inverted window', () => {
    expect(project(0n, april, at(HOUR)).projected).toBe(0n);
    const empty = { start: april.start, end: april.start };
    expect(project(parseUsd('2'), empty, april.start)).toEqual({
      projected: parseUsd('2'),
      ratePerDay: 0n,
      daysElapsed: 0,
      daysInPeriod: 0,
    });
    const inverted = { start: april.end, end: april.start };
    expect(project(parseUsd('2'), inverted, april.start).projected).toBe(parseUsd('2'));
  });

  it('keeps sub-cent amounts exact (pico-dollars, no float)', () => {
    // 1 pico-dollar spent at mid-period projects exactly 2
    expect(project(1n, april, at(15 * DAY)).projected).toBe(2n);
    expect(formatUsd(project(parseUsd('0.000014'), april, at(15 * DAY)).projected)).toBe('0.000028');
  });
});

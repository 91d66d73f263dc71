import { isValidTimeZone, windowAt } from '../../src/modules/budgets/period';

const HOUR = 3_600_000;

/** The window of `at` as ISO strings, and its length in hours. */
function win(at: string, period: 'DAILY' | 'MONTHLY', zone: string) {
  const w = windowAt(new Date(at), period, zone);
  return {
    start: w.start.toISOString(),
    end: w.end.toISOString(),
    hours: (w.end.getTime() - w.start.getTime()) / HOUR,
  };
}

describe('windowAt: calendar windows in a time zone', () => {
  it('UTC days and months', () => {
    expect(win('2024-05-17T13:45:00Z', 'DAILY', 'UTC')).toEqual({
      start: '2024-05-17T00:00:00.000Z',
      end: '2024-05-18T00:00:00.000Z',
      hours: 24,
    });
    expect(win('2024-05-17T13:45:00Z', 'MONTHLY', 'UTC')).toEqual({
      start: '2024-05-01T00:00:00.000Z',
      end: '2024-06-01T00:00:00.000Z',
      hours: 31 * 24,
    });
    // the first instant of a window belongs to it, the last millisecond before it does not
    expect(win('2024-05-17T00:00:00.000Z', 'DAILY', 'UTC').start).toBe('2024-05-17T00:00:00.000Z');
    expect(win('2024-05-16T23:59:59.999Z', 'DAILY', 'UTC').start).toBe('2024-05-16T00:00:00.000Z');
  });

  describe('America/New_York', () => {
    it('puts a call just before local midnight in the old day and one at midnight in the new day', () => {
      // 2024-01-14 23:59:59.999 EST and 2024-01-15 00:00 EST
      expect(win('2024-01-15T04:59:59.999Z', 'DAILY', 'America/New_York')).toEqual({
        start: '2024-01-14T05:00:00.000Z',
        end: '2024-01-15T05:00:00.000Z',
        hours: 24,
      });
      expect(win('2024-01-15T05:00:00.000Z', 'DAILY', 'America/New_York')).toEqual({
        start: '2024-01-15T05:00:00.000Z',
        end: '2024-01-16T05:00:00.000Z',
        hours: 24,
      });
    });

    it('closes January at local midnight of the 31st, not at UTC midnight', () => {
      // 2024-01-31 23:59:59.999 EST is already February in UTC
      expect(win('2024-02-01T04:59:59.999Z', 'MONTHLY', 'America/New_York')).toEqual({
        start: '2024-01-01T05:00:00.000Z',
        end: '2024-02-01T05:00:00.000Z',
        hours: 31 * 24,
      });
      expect(win('2024-02-01T05:00:00.000Z', 'MONTHLY', 'America/New_York')).toEqual({
        start: '2024-02-01T05:00:00.000Z',
        end: '2024-03-01T05:00:00.000Z',
        hours: 29 * 24, // leap year
      });
      // year end
      expect(win('2025-01-01T04:59:59.999Z', 'MONTHLY', 'America/New_York').start).toBe(
        '2024-12-01T05:00:00.000Z',
      );
      expect(win('2025-01-01T05:00:00.000Z', 'MONTHLY', 'America/New_York')).toEqual({
        start: '2025-01-01T05:00:00.000Z',
        end: '2025-02-01T05:00:00.000Z',
        hours: 31 * 24,
      });
    });

    it('has a 23-hour day when DST starts and a 25-hour day when it ends', () => {
      expect(win('2024-03-10T12:00:00Z', 'DAILY', 'America/New_York')).toEqual({
        start: '2024-03-10T05:00:00.000Z',
        end: '2024-03-11T04:00:00.000Z',
        hours: 23,
      });
      // 01:59:59 EST and 03:00 EDT, either side of the jump, are the same day
      expect(win('2024-03-10T06:59:59Z', 'DAILY', 'America/New_York').start).toBe('2024-03-10T05:00:00.000Z');
      expect(win('2024-03-10T07:00:00Z', 'DAILY', 'America/New_York').start).toBe('2024-03-10T05:00:00.000Z');
      expect(win('2024-11-03T12:00:00Z', 'DAILY', 'America/New_York')).toEqual({
        start: '2024-11-03T04:00:00.000Z',
        end: '2024-11-04T05:00:00.000Z',
        hours: 25,
      });
      // both passes through 01:30 (EDT, then EST) are Nov 3
      expect(win('2024-11-03T05:30:00Z', 'DAILY', 'America/New_York').start).toBe('2024-11-03T04:00:00.000Z');
      expect(win('2024-11-03T06:30:00Z', 'DAILY', 'America/New_York').start).toBe('2024-11-03T04:00:00.000Z');
      // months that contain a change are an hour short or long
      expect(win('2024-03-15T00:00:00Z', 'MONTHLY', 'America/New_York')).toEqual({
        start: '2024-03-01T05:00:00.000Z',
        end: '2024-04-01T04:00:00.000Z',
        hours: 31 * 24 - 1,
      });
      expect(win('2024-11-15T00:00:00Z', 'MONTHLY', 'America/New_York')).toEqual({
        start: '2024-11-01T04:00:00.000Z',
        end: '2024-12-01T05:00:00.000Z',
        hours: 30 * 24 + 1,
      });
    });
  });

  describe('Asia/Kolkata (UTC+05:30)', () => {
    it('splits days at 18:30 UTC', () => {
      expect(win('2024-01-15T18:29:59.999Z', 'DAILY', 'Asia/Kolkata')).toEqual({
        start: '2024-01-14T18:30:00.000Z',
        end: '2024-01-15T18:30:00.000Z',
        hours: 24,
      });
      expect(win('2024-01-15T18:30:00.000Z', 'DAILY', 'Asia/Kolkata')).toEqual({
        start: '2024-01-15T18:30:00.000Z',
        end: '2024-01-16T18:30:00.000Z',
        hours: 24,
      });
    });

    it('ends months on their last local day (31, 29, 28, 30) and rolls the year', () => {
      expect(win('2024-01-31T18:29:59.999Z', 'MONTHLY', 'Asia/Kolkata')).toEqual({
        start: '2023-12-31T18:30:00.000Z',
        end: '2024-01-31T18:30:00.000Z',
        hours: 31 * 24,
      });
      expect(win('2024-01-31T18:30:00.000Z', 'MONTHLY', 'Asia/Kolkata')).toEqual({
        start: '2024-01-31T18:30:00.000Z',
        end: '2024-02-29T18:30:00.000Z',
        hours: 29 * 24,
      });
      expect(win('2023-02-10T00:00:00Z', 'MONTHLY', 'Asia/Kolkata')).toEqual({
        start: '2023-01-31T18:30:00.000Z',
        end: '2023-02-28T18:30:00.000Z',
        hours: 28 * 24,
      });
      expect(win('2024-04-30T18:29:59.999Z', 'MONTHLY', 'Asia/Kolkata').end).toBe('2024-04-30T18:30:00.000Z');
      expect(win('2024-12-31T18:30:00.000Z', 'MONTHLY', 'Asia/Kolkata')).toEqual({
        start: '2024-12-31T18:30:00.000Z',
        end: '2025-01-31T18:30:00.000Z',
        hours: 31 * 24,
      });
      // Dec 31 at 20:00 UTC is already New Year's Day in Kolkata
      expect(win('2024-12-31T20:00:00Z', 'DAILY', 'Asia/Kolkata').start).toBe('2024-12-31T18:30:00.000Z');
    });
  });

  describe('zones whose clocks change at midnight', () => {
    it('starts the day at the jump when midnight does not exist (Cairo, Santiago)', () => {
      // Cairo 2024-04-26: 00:00 EET becomes 01:00 EEST
      expect(win('2024-04-25T12:00:00Z', 'DAILY', 'Africa/Cairo')).toEqual({
        start: '2024-04-24T22:00:00.000Z',
        end: '2024-04-25T22:00:00.000Z',
        hours: 24,
      });
      expect(win('2024-04-26T12:00:00Z', 'DAILY', 'Africa/Cairo')).toEqual({
        start: '2024-04-25T22:00:00.000Z',
        end: '2024-04-26T21:00:00.000Z',
        hours: 23,
      });
      expect(win('2024-04-26T12:00:00Z', 'MONTHLY', 'Africa/Cairo').end).toBe('2024-04-30T21:00:00.000Z');
      // Santiago 2024-09-08: 00:00 -04 becomes 01:00 -03
      expect(win('2024-09-08T12:00:00Z', 'DAILY', 'America/Santiago')).toEqual({
        start: '2024-09-08T04:00:00.000Z',
        end: '2024-09-09T03:00:00.000Z',
        hours: 23,
      });
      expect(win('2024-09-07T12:00:00Z', 'DAILY', 'America/Santiago').end).toBe('2024-09-08T04:00:00.000Z');
    });

    it('starts the day at the first of two midnights (Amman 2019, Santiago)', () => {
      // Amman 2019-10-25: 01:00 +03 falls back to 00:00 +02, so midnight happens twice
      expect(win('2019-10-25T12:00:00Z', 'DAILY', 'Asia/Amman')).toEqual({
        start: '2019-10-24T21:00:00.000Z',
        end: '2019-10-25T22:00:00.000Z',
        hours: 25,
      });
      expect(win('2019-10-24T12:00:00Z', 'DAILY', 'Asia/Amman').end).toBe('2019-10-24T21:00:00.000Z');
      // Santiago 2024-04-07: 00:00 -03 falls back to 23:00 -04 on the 6th
      expect(win('2024-04-06T12:00:00Z', 'DAILY', 'America/Santiago')).toEqual({
        start: '2024-04-06T03:00:00.000Z',
        end: '2024-04-07T04:00:00.000Z',
        hours: 25,
      });
    });

    it('handles half-hour DST (Lord Howe)', () => {
      expect(win('2024-10-06T12:00:00Z', 'DAILY', 'Australia/Lord_Howe')).toEqual({
        start: '2024-10-05T13:30:00.000Z',
        end: '2024-10-06T13:00:00.000Z',
        hours: 23.5,
      });
    });
  });

  it('partitions time with no gap or overlap: every instant is in the window of its local date', () => {
    const zones = [
      'UTC',
      'America/New_York',
      'Asia/Kolkata',
      'Africa/Cairo',
      'Asia/Amman',
      'America/Santiago',
      'Australia/Lord_Howe',
      'Pacific/Chatham',
      'Pacific/Kiritimati',
      'Pacific/Pago_Pago',
    ];
    // an odd step, so the walk lands on every hour of the day over a year
    const step = 13 * HOUR + 17 * 60_000 + 17_000;
    const instants: number[] = [];
    for (const year of [2019, 2024]) {
      for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 1, 0, 1); t += step) instants.push(t);
    }
    for (const zone of zones) {
      const date = new Intl.DateTimeFormat('en-CA', {
        timeZone: zone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
      });
      const day = (t: number) => date.format(new Date(t));
      const month = (t: number) => day(t).slice(0, 7);
      for (const t of instants) {
        for (const [period, label] of [
          ['DAILY', day],
          ['MONTHLY', month],
        ] as const) {
          const w = windowAt(new Date(t), period, zone);
          const start = w.start.getTime();
          const end = w.end.getTime();
          const ok =
            start <= t &&
            t < end &&
            label(start) === label(t) &&
            label(start - 1) !== label(t) &&
            label(end - 1) === label(t) &&
            label(end) !== label(t);
          if (!ok) {
            throw new Error(
              `${zone} ${period} at ${new Date(t).toISOString()}: [${w.start.toISOString()}, ${w.end.toISOString()})`,
            );
          }
        }
      }
    }
  });

  it('validates zone names', () => {
    expect(isValidTimeZone('Asia/Kolkata')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});

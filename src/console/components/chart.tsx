import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { formatUsd } from '../lib/money';

export interface ChartSeries {
  label: string;
  /** For drawing. */
  values: (number | null)[];
  /** The API's exact amounts, shown in the legend. */
  exact: (string | null)[];
}

/** Categorical colours with at least 3:1 contrast on the light and dark card backgrounds. */
const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

const DAY = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const CLOCK = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'UTC' });
const HOUR = new Intl.DateTimeFormat('en-GB', {
  hour: '2-digit',
  minute: '2-digit',
  day: 'numeric',
  month: 'short',
  timeZone: 'UTC',
});

/** "14:00", or the date at midnight (hourly); "26 Nov" (daily). */
function bucketLabel(seconds: number): string {
  const date = new Date(seconds * 1000);
  return seconds % 86400 === 0 ? DAY.format(date) : CLOCK.format(date);
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * Spend over time per model (uPlot, canvas). `x` are bucket starts in Unix seconds; times are
 * shown in UTC, as the buckets are UTC days or hours.
 */
export function SpendChart({
  x,
  series,
  hourly,
  label,
}: {
  x: number[];
  series: ChartSeries[];
  hourly: boolean;
  label: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return undefined;
    const axis = cssVar('--muted', '#555');
    const grid = cssVar('--grid', '#e5e7eb');
    const width = Math.max(280, el.clientWidth);
    const exactValue =
      (s: ChartSeries) => (_u: uPlot, v: number | null, _series: number, idx: number | null) =>
        idx === null || v === null || v === undefined ? '—' : formatUsd(s.exact[idx] ?? '0');
    const opts: uPlot.Options = {
      width,
      height: width < 500 ? 220 : 280,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      padding: [12, 32, 0, 0],
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1e-6] } },
      axes: [
        {
          stroke: axis,
          grid: { stroke: grid },
          ticks: { stroke: grid },
          // ticks only on bucket boundaries, labelled as buckets (a day, or an hour)
          incrs: hourly
            ? [3600, 7200, 10800, 21600, 43200, 86400]
            : [86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400],
          values: (_u, splits) => splits.map(bucketLabel),
        },
        {
          stroke: axis,
          grid: { stroke: grid },
          ticks: { stroke: grid },
          size: 84,
          values: (_u, splits) => splits.map((v) => `$${trimFloat(v)}`),
        },
      ],
      series: [
        {
          label: hourly ? 'Hour (UTC)' : 'Day (UTC)',
          value: (_u: uPlot, v: number | null) =>
            v === null || v === undefined ? '—' : (hourly ? HOUR : DAY).format(new Date(v * 1000)),
        },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: PALETTE[i % PALETTE.length],
          fill: `${PALETTE[i % PALETTE.length]}1f`,
          width: 2,
          points: { show: true, size: 5 },
          value: exactValue(s),
        })),
      ],
      legend: { live: true },
      cursor: { points: { size: 7 } },
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = new ResizeObserver(() => {
      const w = Math.max(280, el.clientWidth);
      if (Math.abs(w - plot.width) > 2) plot.setSize({ width: w, height: w < 500 ? 220 : 280 });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [x, series, hourly]);
  return <div class="chart" ref={host} role="img" aria-label={label} />;
}

/** Axis labels: enough significant digits to tell ticks apart, without float noise. */
function trimFloat(v: number): string {
  if (v === 0) return '0';
  return Number(v.toPrecision(4)).toString();
}

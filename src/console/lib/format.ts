/** Display helpers for figures that are not money (ratios, counts, times). */

const integer = new Intl.NumberFormat('en-US');

export function formatInt(n: number | null | undefined): string {
  return n === null || n === undefined ? '—' : integer.format(n);
}

/** 0.4213 -> "42.13%"; never shows a non-zero ratio as 0. */
export function formatPercent(ratio: number): string {
  if (!Number.isFinite(ratio)) return '∞';
  const pct = ratio * 100;
  if (pct === 0) return '0%';
  if (Math.abs(pct) < 0.01) return `${pct.toPrecision(2)}%`;
  return `${Number(pct.toFixed(2))}%`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** A moment in the viewer's zone, or in `timeZone` when given (a budget's). */
export function formatDateTime(iso: string | Date, timeZone?: string): string {
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  return new Intl.DateTimeFormat('en-GB', {
    year: 'numeric',
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZone,
  }).format(date);
}

export function formatTime(iso: string | Date): string {
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  return new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(
    date,
  );
}

/** "in 5 h 12 min", "3 min ago". */
export function formatRelative(iso: string, now = Date.now()): string {
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const minutes = Math.round(abs / 60_000);
  let text: string;
  if (abs < 45_000) text = `${Math.max(1, Math.round(abs / 1000))} s`;
  else if (minutes < 60) text = `${minutes} min`;
  else if (minutes < 48 * 60) text = `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  else text = `${Math.round(minutes / 1440)} days`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** For moments in the past (alerts): a clock a little behind the server's says "just now", not "in 1 s". */
export function formatAgo(iso: string, now = Date.now()): string {
  const ms = Math.max(now, Date.now()) - new Date(iso).getTime();
  return ms < 45_000 ? 'just now' : formatRelative(iso, now);
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

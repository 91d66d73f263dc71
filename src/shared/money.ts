/**
 * Money is exact: amounts are BigInt counts of pico-dollars (1e-12 USD) in memory and
 * NUMERIC in Postgres. A price of P USD per million tokens is P micro-dollars per token;
 * prices carry at most 6 decimals, so every token costs a whole number of pico-dollars and
 * a call's cost is an integer with no rounding at all.
 */
export type Pico = bigint;

const SCALE = 12;
const UNIT = 10n ** BigInt(SCALE);
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

/** Parses a decimal USD string ("0.00035", "12", "-1.5") into pico-dollars; throws on more than 12 decimals. */
export function parseUsd(value: string | number): Pico {
  const text = typeof value === 'number' ? numberToPlain(value) : value.trim();
  const match = DECIMAL.exec(text);
  if (!match) throw new RangeError(`not a decimal amount: ${text}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const trimmed = fraction.replace(/0+$/, '');
  if (trimmed.length > SCALE) throw new RangeError(`more than ${SCALE} decimals: ${text}`);
  const pico = BigInt(whole) * UNIT + BigInt(trimmed.padEnd(SCALE, '0') || '0');
  return sign ? -pico : pico;
}

/** Formats pico-dollars as the shortest exact decimal USD string ("0.00035", "2", "0"). */
export function formatUsd(pico: Pico): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const whole = abs / UNIT;
  const fraction = (abs % UNIT).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** Cost of a call: tokens times price per million tokens (USD), exact. */
export function costOf(
  promptTokens: number,
  completionTokens: number,
  price: { prompt: Pico; completion: Pico },
): Pico {
  // price in pico-dollars per *million* tokens -> per token is price / 1e6; multiply first, divide last.
  // Prices carry at most 6 decimals of USD per million tokens (enforced at input), so the division is exact.
  const total = BigInt(promptTokens) * price.prompt + BigInt(completionTokens) * price.completion;
  return total / 1_000_000n;
}

/** Ratio a/b as a float, for display figures like utilization only (never for money). */
export function ratio(a: Pico, b: Pico): number {
  if (b === 0n) return a > 0n ? Number.POSITIVE_INFINITY : 0;
  // keep 9 significant fractional digits before going to float
  return Number((a * 1_000_000_000n) / b) / 1_000_000_000;
}

export const minPico = (a: Pico, b: Pico): Pico => (a < b ? a : b);
export const maxPico = (a: Pico, b: Pico): Pico => (a > b ? a : b);

function numberToPlain(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite amount: ${value}`);
  // toFixed(12) would round; go through the shortest round-trip representation instead
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toFixed(SCALE).replace(/\.?0+$/, '');
}

/** True when a USD-per-million price has at most 6 decimals (so per-token pico prices are integers). */
export function isValidPrice(pico: Pico): boolean {
  return pico >= 0n && pico % 1_000_000n === 0n;
}

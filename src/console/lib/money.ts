/**
 * Money as the API gives it: exact decimal strings (the `USD` scalar). Nothing here rounds:
 * display adds "$", thousands separators and pads to at least two decimals, and sums are done
 * on BigInt pico-dollars. Numbers (floats) are made only to draw charts.
 */
const SCALE = 12;
const UNIT = 10n ** BigInt(SCALE);
const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

/** "$0.000014", "$1,234.50", "-$0.25"; the digits are exactly the API's. */
export function formatUsd(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  const match = DECIMAL.exec(value.trim());
  if (!match) return value;
  const [, sign, whole = '0', fraction = ''] = match;
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign ? '-' : ''}$${grouped}.${fraction.padEnd(2, '0')}`;
}

/** A price per million tokens: "$0.14 / M". */
export function formatPrice(value: string): string {
  return `${formatUsd(value)} / M`;
}

export function toPico(value: string): bigint {
  const match = DECIMAL.exec(value.trim());
  if (!match) throw new RangeError(`not a USD amount: ${value}`);
  const [, sign, whole = '0', fraction = ''] = match;
  const pico = BigInt(whole) * UNIT + BigInt(fraction.slice(0, SCALE).padEnd(SCALE, '0'));
  return sign ? -pico : pico;
}

export function fromPico(pico: bigint): string {
  const negative = pico < 0n;
  const abs = negative ? -pico : pico;
  const fraction = (abs % UNIT).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${abs / UNIT}${fraction ? `.${fraction}` : ''}`;
}

/** Exact sum of USD strings. */
export function sumUsd(values: string[]): string {
  return fromPico(values.reduce((t, v) => t + toPico(v), 0n));
}

/** For charts only. */
export function usdToNumber(value: string): number {
  return Number(value);
}

/** True when the text is a plain decimal amount the API accepts ("25", "0.50"). */
export function isUsdInput(value: string): boolean {
  return /^\d+(\.\d+)?$/.test(value.trim());
}

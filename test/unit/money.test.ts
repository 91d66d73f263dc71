import { costOf, formatUsd, isValidPrice, parseUsd, ratio } from '../../src/shared/money';

describe('money is exact', () => {
  it('round-trips decimal strings through pico-dollars', () => {
    for (const s of ['0', '0.00035', '12', '0.000000000001', '-1.5', '123456789.123456789012']) {
      expect(formatUsd(parseUsd(s))).toBe(s);
    }
    expect(formatUsd(parseUsd('1.50000'))).toBe('1.5');
    expect(parseUsd(0.14)).toBe(140_000_000_000n);
  });

  it('refuses what is not a decimal amount or has more than 12 decimals', () => {
    for (const s of ['', 'abc', '1e5', '1.0000000000001', '1.2.3', ' '])
      expect(() => parseUsd(s)).toThrow(RangeError);
  });

  it('prices 1,000 prompt + 500 completion tokens on deepseek-chat at exactly $0.00035', () => {
    const price = { prompt: parseUsd('0.14'), completion: parseUsd('0.42') };
    expect(formatUsd(costOf(1000, 500, price))).toBe('0.00035');
    // the reference rounded this to 0.0000 at 4 decimals; here it is 14 micro-dollars
    expect(formatUsd(costOf(100, 0, price))).toBe('0.000014');
    expect(formatUsd(costOf(1, 0, price))).toBe('0.00000014');
  });

  it('accepts prices with at most 6 decimals per million tokens', () => {
    expect(isValidPrice(parseUsd('0.0375'))).toBe(true);
    expect(isValidPrice(parseUsd('0.0000001'))).toBe(false);
    expect(isValidPrice(parseUsd('-1'))).toBe(false);
  });

  it('computes display ratios without dividing by zero', () => {
    expect(ratio(parseUsd('5'), parseUsd('10'))).toBe(0.5);
    expect(ratio(0n, 0n)).toBe(0);
    expect(ratio(1n, 0n)).toBe(Number.POSITIVE_INFINITY);
  });
});

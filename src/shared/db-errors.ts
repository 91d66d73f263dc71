const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  '57P01',
  '57P02',
  '57P03',
]);

/**
 * A database error that says nothing about the statement, only that the server could not be
 * reached or did not answer in time (the statement may or may not have committed).
 */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code =
    (error as { code?: unknown; driverError?: { code?: unknown } }).driverError?.code ??
    (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'))) return true;
  return /connection terminated|connection error|timeout exceeded when trying to connect|Query read timeout|ECONNREFUSED|Connection refused/i.test(
    error.message,
  );
}

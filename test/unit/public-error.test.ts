import { Writable } from 'node:stream';
import pino from 'pino';
import { QueryFailedError } from 'typeorm';
import { publicError } from '../../src/shared/public-error';
import { RateLimitedError } from '../../src/shared/errors';

/** A logger whose lines are collected here. */
function capture() {
  const lines: { msg: string; err?: { message?: string } }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

describe('publicError (the REST doors)', () => {
  it('logs a database error (which carries a code of its own) and hides it', async () => {
    const { log, lines } = capture();
    const error = new QueryFailedError(
      'SELECT 1',
      [],
      Object.assign(new Error('relation "x" does not exist'), { code: '42P01' }),
    );
    const shown = publicError(log, error);
    expect(shown).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.msg, l.err?.message])).toEqual([
      ['internal error', 'relation "x" does not exist'],
    ]);
  });

  it('turns a lost database into a retryable SERVICE_UNAVAILABLE, logged', async () => {
    const { log, lines } = capture();
    const shown = publicError(
      log,
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    );
    expect(shown).toMatchObject({ code: 'SERVICE_UNAVAILABLE', details: { retryAfterMs: 1000 } });
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => l.msg)).toEqual(['database unavailable']);
  });

  it('passes a domain error as it is, without logging it', async () => {
    const { log, lines } = capture();
    const limited = new RateLimitedError('slow down', 1500);
    expect(publicError(log, limited)).toBe(limited);
    await new Promise((r) => setImmediate(r));
    expect(lines).toEqual([]);
  });
});

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { requestLogger, traceIdOf } from '../../src/shared/logger';

const ROOT = path.resolve(__dirname, '../..');

describe('traceIdOf (W3C traceparent)', () => {
  it('reads the trace id of a version-00 header', () => {
    expect(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it.each([
    ['absent', undefined],
    ['repeated', ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']],
    ['all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['upper-case hex', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01'],
    ['short trace id', '00-4bf92f3577b34da6-00f067aa0ba902b7-01'],
    ['another version', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['junk', 'hello'],
  ])('gives nothing for a header that is %s', (_what, header) => {
    expect(traceIdOf(header)).toBeUndefined();
  });
});

describe('requestLogger', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        done();
      },
    });
    return { log: pino({ level: 'info' }, sink), lines };
  };

  it('puts the request id, and the trace id when there is one, on every line', () => {
    const { log, lines } = capture();
    const traced = requestLogger(log, { requestId: 'r-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    traced.info('first');
    traced.child({ step: 'settle' }).warn('second');
    requestLogger(log, { requestId: 'r-2' }).error('third');
    expect(lines.map(({ msg, requestId, traceId }) => ({ msg, requestId, traceId }))).toEqual([
      { msg: 'first', requestId: 'r-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      { msg: 'second', requestId: 'r-1', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' },
      { msg: 'third', requestId: 'r-2', traceId: undefined },
    ]);
    expect(lines[2]).not.toHaveProperty('traceId');
  });
});

describe('createLogger', () => {
  /** Logs two lines from a child process (its stdout is a pipe here) and returns what it printed. */
  const printed = (pretty: boolean) => {
    const script = `
      const { createLogger, requestLogger } = require('./src/shared/logger');
      const log = createLogger('info', { pretty: ${pretty} });
      requestLogger(log, { requestId: 'r-9' }).info({ headers: { authorization: 'Bearer tg_secret_value' } }, 'hello there');
    `;
    const child = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(child.stderr).toBe('');
    return child.stdout;
  };

  it('writes JSON lines by default, secrets redacted', () => {
    const line = JSON.parse(printed(false).trim()) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 30,
      msg: 'hello there',
      requestId: 'r-9',
      headers: { authorization: '[redacted]' },
    });
  });

  it('writes readable text when pretty (a terminal), with the same fields and the same redaction', () => {
    // eslint-disable-next-line no-control-regex -- the colours' escape sequences
    const text = printed(true).replace(/\x1b\[[0-9;]*m/g, '');
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toMatch(/INFO.*hello there/);
    expect(text).toContain('requestId: "r-9"');
    expect(text).toContain('[redacted]');
    expect(text).not.toContain('tg_secret_value');
    expect(text).not.toMatch(/pid|hostname/);
  }, 30_000);
});

import pino from 'pino';

export type Logger = pino.Logger;

/** JSON logs; secrets are redacted wherever they might appear in a logged object. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: {
      paths: ['*.authorization', '*.apiKey', '*.secret', '*.upstreamKeys', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** One coloured, human-readable entry per line group instead of JSON (main.ts: when stdout is a terminal). */
  pretty?: boolean;
}

/**
 * JSON lines for machines, or readable text for a person at a terminal; secrets are redacted
 * wherever they might appear in a logged object, in both.
 */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const settings: pino.LoggerOptions = {
    level,
    redact: {
      paths: ['*.authorization', '*.apiKey', '*.secret', '*.upstreamKeys', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  if (!options.pretty) return pino(settings);
  // In the main thread and synchronous: a terminal is read by a person, and a line written just
  // before process.exit must not be lost.
  return pino(
    settings,
    pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }),
  );
}

/** What names one request (an HTTP request, or one operation on a WebSocket) in the logs. */
export interface RequestIds {
  requestId: string;
  /** The W3C trace the request belongs to, when one is known. */
  traceId?: string;
}

/** The logger of one request: every line it writes carries the request's id, and its trace id when there is one. */
export function requestLogger(log: Logger, ids: RequestIds): Logger {
  return log.child(
    ids.traceId ? { requestId: ids.requestId, traceId: ids.traceId } : { requestId: ids.requestId },
  );
}

/**
 * At debug level, one line about the request when its response ends: method, path (no query
 * string: it may carry variables), status, milliseconds, and whether it finished or the client
 * went away. Nothing is set up when debug is off.
 */
export function logResponseEnd(
  log: Logger,
  req: IncomingMessage & { originalUrl?: string },
  res: ServerResponse,
): void {
  if (!log.isLevelEnabled('debug')) return;
  const started = performance.now();
  res.once('close', () => {
    log.debug(
      {
        method: req.method,
        path: (req.originalUrl ?? req.url ?? '').split('?')[0],
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
        ...(res.writableFinished ? {} : { aborted: true }),
      },
      'request done',
    );
  });
}

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The trace id of a W3C `traceparent` header (`00-<trace id>-<parent id>-<flags>`), or undefined
 * when there is none, it is malformed, or its trace id is all zeros (invalid by the spec).
 */
export function traceIdOf(traceparent: string | string[] | undefined): string | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const traceId = TRACEPARENT.exec(traceparent.trim())?.[1];
  return traceId && !/^0+$/.test(traceId) ? traceId : undefined;
}

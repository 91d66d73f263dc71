import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { BadInputError, ForbiddenError } from '../../shared/errors';
import { logResponseEnd, requestLogger, traceIdOf, type Logger } from '../../shared/logger';
import type { AuthThrottle } from '../projects/auth-throttle';
import type { AuthService, KeyPrincipal } from '../projects/auth.service';
import { callSpanName, type Tracing } from '../../shared/tracing';
import type { CallOptions, CompletionResult, Door } from '../completions/completion.types';
import { formatUsd } from '../../shared/money';
import type { BodyProblem } from '../../shared/json-body';

/** What every REST door needs to know who is calling, and to trace the call. */
export interface DoorAuth {
  tracing: Tracing;
  auth: AuthService;
  /** Shared with the GraphQL door. */
  throttle: AuthThrottle;
  /** The caller's address (X-Forwarded-For only from a trusted proxy), for the throttle. */
  clientAddress: (req: IncomingMessage) => string;
}

/** Each request's id and logger, set as it comes in. */
const requests = new WeakMap<Response, { requestId: string; log: Logger }>();

/**
 * Every request gets an id, answered in `idHeader`, and a logger whose lines carry it (and the
 * client's trace id, from a W3C traceparent). The id is the call's when the door names the call
 * before it runs: its Idempotency-Key, else this id, which a stream's call takes as its own.
 */
export function requestIds(log: Logger, idHeader = 'x-request-id') {
  return (req: Request, res: Response, next: NextFunction): void => {
    const key = req.header('idempotency-key');
    const requestId = key && key.length <= 200 ? key : crypto.randomUUID();
    res.setHeader(idHeader, requestId);
    const child = requestLogger(log, { requestId, traceId: traceIdOf(req.headers.traceparent) });
    requests.set(res, { requestId, log: child });
    logResponseEnd(child, req, res);
    next();
  };
}

/** The request's id, as requestIds named it. */
export const requestIdOf = (res: Response): string | undefined => requests.get(res)?.requestId;

/** The request's logger, or `fallback` outside requestIds. */
export const logOf = (res: Response, fallback: Logger): Logger => requests.get(res)?.log ?? fallback;

/** The project key in `header` ("Bearer tg_..."), behind the failed-auth throttle; an operator key may not call. */
export async function authenticateKey(
  deps: DoorAuth,
  req: Request,
  header: string | undefined,
): Promise<KeyPrincipal> {
  const who = await deps.throttle.check(deps.clientAddress(req), () => deps.auth.authenticateHeader(header));
  if (who.kind !== 'key') throw new ForbiddenError('Use a project key to make calls');
  return who;
}

/** Aborts when the client hangs up before the answer is complete. */
export function clientGone(res: Response): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client went away'));
  });
  return controller.signal;
}

/** One call as a door's handler gets it: who calls, and the options its pipeline call takes. */
export interface DoorCall {
  req: Request;
  res: Response;
  who: KeyPrincipal;
  /** The client-gone signal, the call's id (the request's), its root span and the door's name. */
  options: Required<Pick<CallOptions, 'signal' | 'callId' | 'span' | 'door'>>;
}

/**
 * A door's route for one kind of call: the call's root span (`chat gpt-4.1`, continuing the
 * client's W3C traceparent), authentication as its first child, the client-gone signal, and any
 * failure recorded on the span and answered in the door's own error shape.
 */
export function callRoute(
  deps: DoorAuth & { log: Logger },
  operation: 'chat' | 'embeddings',
  door: Door,
  authenticate: (req: Request) => Promise<KeyPrincipal>,
  fail: (log: Logger, res: Response, error: unknown) => void,
  handle: (call: DoorCall) => Promise<void>,
) {
  return async (req: Request, res: Response): Promise<void> => {
    const body = req.body as { model?: unknown } | undefined;
    const span = deps.tracing.startCall(callSpanName(operation, body?.model), req.header('traceparent'), {
      'http.route': `${req.baseUrl}${req.path}`,
    });
    const signal = clientGone(res);
    try {
      const who = await span.within('authenticate', () => authenticate(req));
      const callId = requestIdOf(res) ?? crypto.randomUUID();
      await handle({ req, res, who, options: { signal, callId, span, door } });
    } catch (error) {
      span.fail(error);
      fail(logOf(res, deps.log), res, error);
    } finally {
      span.end();
    }
  };
}

/**
 * Tollgate's own figures of a call, beside the wire format's fields (`tollgate` in an answer or
 * its last chunk or event): exact cost, the request id, routing, and what was not sent upstream.
 */
export function tollgateFigures(
  r: CompletionResult,
  dropped: readonly string[] = r.dropped,
): Record<string, unknown> {
  return {
    cost: formatUsd(r.cost),
    cache_savings: formatUsd(r.cacheSavings),
    request_id: r.requestId,
    model: r.model,
    tier: r.tier,
    fallbacks: r.fallbacks,
    downgraded: r.downgraded,
    replayed: r.replayed,
    ...(r.priceNote ? { price_note: r.priceNote } : {}),
    ...(dropped.length > 0 ? { dropped } : {}),
  };
}

/**
 * How a REST door answers what its routes could not, in its own wire shape (`send`, and `fail` for
 * a thrown error): a body it could not read (over the limit: 413 naming it; anything else
 * body-parser or json-body.ts refused: 400), and whatever a handler let escape. The router's error
 * handler and the direct path (DirectPosts) answer alike through these.
 */
export function doorFailures(
  deps: { log: Logger; maxBodyBytes: number },
  send: (res: Response, error: BadInputError, status: number) => void,
  fail: (log: Logger, res: Response, error: unknown) => void,
): Pick<DirectPosts, 'bodyError' | 'fail'> & { errorHandler: ErrorRequestHandler } {
  const bodyError = (res: Response, problem: { type?: string }) =>
    problem.type === 'entity.too.large'
      ? send(res, new BadInputError(`Request body is larger than ${deps.maxBodyBytes} bytes`), 413)
      : send(res, new BadInputError('The request body is not valid JSON'), 400);
  const escaped = (res: Response, error: unknown) => fail(logOf(res, deps.log), res, error);
  return {
    bodyError,
    fail: escaped,
    errorHandler: (error: Error & { status?: number; type?: string }, _req, res, _next) => {
      if (error.status && error.status >= 400 && error.status < 500) bodyError(res, error);
      else escaped(res, error);
    },
  };
}

/**
 * A door's JSON POST routes, for the HTTP server to call without express's dispatch (the common
 * call, taken as src/shared/json-body.ts reads it alike; anything else goes through the door's router).
 */
export interface DirectPosts {
  /** Each route's full path (mount path included) and handler, as the router mounts it. */
  routes: ReadonlyMap<string, (req: Request, res: Response) => Promise<void>>;
  /** What the router runs first for every request (requestIds). */
  start: (req: Request, res: Response, next: NextFunction) => void;
  maxBodyBytes: number;
  /** Answers a body problem as the router's error handler does. */
  bodyError: (res: Response, problem: BodyProblem) => void;
  /** Answers what a handler let escape as the router's error handler does. */
  fail: (res: Response, error: unknown) => void;
}

import express, { Router, type Request, type Response } from 'express';
import { toOpenAiRequest } from '../anthropic/anthropic-to-openai';
import { toAnthropicErrorEvent, toAnthropicErrorReply } from '../anthropic/anthropic.errors';
import { toAnthropicUsage } from '../anthropic/anthropic-usage';
import { OpenAiToAnthropicStream } from '../anthropic/openai-to-anthropic.stream';
import { toAnthropicMessage } from '../anthropic/response-translate';
import { TranslationError } from '../anthropic/translation-error';
import type { CompletionService } from '../completions/completion.service';
import type { CompletionRequest, CompletionResult } from '../completions/completion.types';
import {
  authenticateKey,
  doorFailures,
  callRoute,
  logOf,
  requestIdOf,
  requestIds,
  tollgateFigures,
  type DirectPosts,
  type DoorAuth,
  type DoorCall,
} from '../openai/door';
import type { KeyPrincipal } from '../projects/auth.service';
import { BadInputError, NotFoundError, type DomainError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { formatUsd } from '../../shared/money';
import { NATIVE_EVENTS, type NativeRequest, type WithNativeEvents } from '../../shared/native-request';
import type { OpenAiChunk, OpenAiCompletion } from '../../shared/openai-wire';
import { publicError } from '../../shared/public-error';

export interface MessagesDeps extends DoorAuth {
  completions: CompletionService;
  log: Logger;
  maxBodyBytes: number;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The Anthropic-compatible door: POST /v1/messages and /v1/messages/count_tokens, Anthropic's
 * Messages API on the same keys, budgets, routing, limits, idempotency and ledger as the other
 * doors. A call that lands on an Anthropic upstream is passed through as the client wrote it (the
 * model name mapped, cache_control kept, its anthropic-version and anthropic-beta forwarded); one
 * that lands on an OpenAI-compatible upstream is translated, and its answer translated back.
 * Authenticated by `Authorization: Bearer <key>` (the SDK's 1.x) or `x-api-key: <key>`.
 */
export function messagesDoor(deps: MessagesDeps): { router: Router; direct: DirectPosts } {
  const router = Router();
  // (mounted at /v1/messages)
  const routes = ['/', '/count_tokens'];
  const start = requestIds(deps.log, 'request-id');
  const failures = doorFailures(deps, sendError, fail);
  router.use(routes, start, express.json({ limit: deps.maxBodyBytes }));

  const message = callRoute(
    deps,
    'chat',
    'anthropic',
    (req) => authenticate(deps, req),
    fail,
    async (call) => {
      const { req, res, who, options } = call;
      const request = toPipelineRequest(req.body, req);
      if (request.native!.body.stream === true) return streamMessage(deps, who, request, res, options);
      const result = await deps.completions.complete(who, request, options);
      res.setHeader('request-id', result.requestId);
      res.setHeader('x-tollgate-cost', formatUsd(result.cost));
      res.json({ ...messageOf(result), tollgate: tollgateOf(result, request) });
    },
  );

  // Anthropic's token counter, answered from Tollgate's estimate with the routed model's margin:
  // what the call would reserve for its prompt.
  const countTokens = async (req: Request, res: Response) => {
    try {
      const who = await authenticate(deps, req);
      const body = isObject(req.body) ? { max_tokens: 1, ...req.body } : req.body;
      const estimate = await deps.completions.estimate(who, toPipelineRequest(body, req));
      res.json({ input_tokens: estimate.reservedPromptTokens });
    } catch (error) {
      failures.fail(res, error);
    }
  };
  router.post('/', message);
  router.post('/count_tokens', countTokens);

  router.use(routes, failures.errorHandler);
  router.all(routes, (_req: Request, res: Response) => sendError(res, new NotFoundError('This endpoint')));
  return {
    router,
    direct: {
      routes: new Map([
        ['/v1/messages', message],
        ['/v1/messages/count_tokens', countTokens],
      ]),
      start,
      maxBodyBytes: deps.maxBodyBytes,
      bodyError: failures.bodyError,
      fail: failures.fail,
    },
  };
}

function authenticate(deps: MessagesDeps, req: Request): Promise<KeyPrincipal> {
  const apiKey = req.header('x-api-key');
  const header = req.header('authorization') ?? (apiKey ? `Bearer ${apiKey}` : undefined);
  return authenticateKey(deps, req, header);
}

/**
 * The Messages request as the pipeline takes it: its OpenAI view (what routing, the estimate and
 * the reservation read, and what an OpenAI-compatible upstream is sent), and the body itself for
 * an Anthropic upstream. A field the view cannot hold (top_k, thinking with a budget, a server
 * tool...) is left out of it, and remembered: the call is refused naming it only if it lands on an
 * OpenAI-compatible upstream. What was left out still counts in the estimate, as its JSON text.
 */
export function toPipelineRequest(body: unknown, req: Request): CompletionRequest {
  if (!isObject(body)) throw new BadInputError('The body must be a JSON object');
  let rest: Json = { ...body };
  let untranslatable: TranslationError | null = null;
  const leftOut: unknown[] = [];
  for (;;) {
    const dropped: string[] = [];
    try {
      const view = toOpenAiRequest(rest, {
        onDroppedHint: (field, why) => dropped.push(`${field}: ${why}`),
      }) as unknown as Json;
      const { stream: _stream, stream_options: _options, ...decided } = view;
      if (leftOut.length > 0) {
        const messages = Array.isArray(decided.messages) ? decided.messages : [];
        decided.messages = [...messages, { role: 'user', content: JSON.stringify(leftOut) }];
      }
      const native: NativeRequest = {
        format: 'anthropic',
        body,
        headers: protocolHeaders(req),
        untranslatable,
        dropped,
      };
      return { body: decided, requestId: req.header('idempotency-key') ?? null, native };
    } catch (error) {
      if (!(error instanceof TranslationError)) throw error;
      const key = error.field.split(/[.[]/)[0] ?? '';
      // A malformed request (no model, no max_tokens, no messages) is the client's to fix wherever it goes.
      if (!(key in rest) || ['model', 'max_tokens'].includes(key) || leftOut.length > 20) throw error;
      untranslatable ??= error;
      leftOut.push(rest[key]);
      if (key === 'messages') rest = { ...rest, messages: [{ role: 'user', content: '(see below)' }] };
      else {
        const { [key]: _dropped, ...kept } = rest;
        rest = kept;
      }
    }
  }
}

function protocolHeaders(req: Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['anthropic-version', 'anthropic-beta']) {
    const value = req.header(name);
    if (value) headers[name] = value;
  }
  return headers;
}

/** The answer as Anthropic's message: the upstream's own when passed through, else translated from OpenAI's. */
function messageOf(result: CompletionResult): Json {
  if (result.native) return result.native;
  const { message } = toAnthropicMessage(result.completion as unknown as OpenAiCompletion);
  return { ...message, usage: toAnthropicUsage(result.usage) };
}

/** What was not sent: the Anthropic request's hints, and the OpenAI view's when it was translated. */
function tollgateOf(r: CompletionResult, request: CompletionRequest): Json {
  return tollgateFigures(
    r,
    r.passedThrough ? r.dropped : [...(request.native?.dropped ?? []), ...r.dropped],
  ) as Json;
}

/**
 * Anthropic's event stream: a passed-through call's own events as they came (the last
 * message_delta held for the settle, to carry Tollgate's exact cost), or OpenAI chunks translated
 * into the same sequence. Headers go out with the first event, so a call refused before it starts
 * gets a plain error with its status; a failure after that arrives as an `error` event. A stream
 * cut short (at max_tokens, or by the upstream) is closed properly: open blocks stopped, then
 * message_delta with the settled usage and message_stop.
 */
async function streamMessage(
  deps: MessagesDeps,
  who: KeyPrincipal,
  request: CompletionRequest,
  res: Response,
  call: DoorCall['options'],
): Promise<void> {
  const { signal, span } = call;
  const requestId = request.requestId ?? call.callId;
  const open = () => {
    if (res.headersSent) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': requestId,
    });
  };
  const send = (event: Json) => {
    open();
    res.write(`event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const translator = new OpenAiToAnthropicStream();
  let translated = false;
  const blocks = new Set<number>();
  let started = false;
  const closing: { event: Json | null } = { event: null };
  const forward = (event: Json) => {
    if (event.type === 'message_start') started = true;
    if (event.type === 'content_block_start' && typeof event.index === 'number') blocks.add(event.index);
    if (event.type === 'content_block_stop' && typeof event.index === 'number') blocks.delete(event.index);
    // The last message_delta waits for the settle, and message_stop goes out after it.
    if (event.type === 'message_delta') closing.event = event;
    else if (event.type !== 'message_stop') send(event);
  };
  try {
    const result = await deps.completions.stream(
      who,
      request,
      (chunk) => {
        const native = (chunk as WithNativeEvents)[NATIVE_EVENTS];
        if (native) {
          for (const event of native) forward(event as Json);
          return;
        }
        translated = true;
        for (const event of translator.push(chunk as unknown as OpenAiChunk)) forward(event as Json);
      },
      call,
    );
    // The translator closes what it opened (or opens the message, when nothing came through).
    if (translated || !started) for (const event of translator.end()) forward(event as Json);
    for (const index of blocks) send({ type: 'content_block_stop', index });
    const last = closing.event;
    send({
      type: 'message_delta',
      delta: isObject(last?.delta) ? last.delta : { stop_reason: stopReasonOf(result), stop_sequence: null },
      usage: toAnthropicUsage(result.usage),
      tollgate: tollgateOf(result, request),
    });
    send({ type: 'message_stop' });
    res.end();
  } catch (error) {
    if (!res.headersSent) throw error;
    span.fail(error);
    if (!res.writableEnded && !signal.aborted) {
      const domain: DomainError = publicError(logOf(res, deps.log), error);
      send(toAnthropicErrorEvent(domain.code, domain.message, domain.details) as unknown as Json);
      res.end();
    }
  }
}

function stopReasonOf(result: CompletionResult): string {
  switch (result.finishReason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

/** Answers an error in Anthropic's shape; anything not a domain error is logged (publicError) and hidden. */
function fail(log: Logger, res: Response, error: unknown): void {
  const domain = publicError(log, error);
  if (!res.headersSent) sendError(res, domain);
}

function sendError(res: Response, error: DomainError, status?: number): void {
  const reply = toAnthropicErrorReply(error.code, error.message, error.details, requestIdOf(res) ?? null);
  for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
  res.status(status ?? reply.status).json(reply.body);
}

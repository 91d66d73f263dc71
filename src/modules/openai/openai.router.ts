import express, { Router, type Request, type Response } from 'express';
import { publicError } from '../../shared/public-error';
import { BadInputError, NotFoundError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { formatUsd } from '../../shared/money';
import { toOpenAiUsage } from '../../shared/token-usage';
import type { CompletionService } from '../completions/completion.service';
import type { CompletionRequest, CompletionResult } from '../completions/completion.types';
import type { KeyPrincipal } from '../projects/auth.service';
import type { CatalogService } from '../providers/catalog.service';
import { sendOpenAiError } from './openai.errors';
import {
  authenticateKey,
  doorFailures,
  callRoute,
  logOf,
  requestIds,
  tollgateFigures,
  type DirectPosts,
  type DoorAuth,
  type DoorCall,
} from './door';

export interface OpenAiDeps extends DoorAuth {
  completions: CompletionService;
  catalog: CatalogService;
  log: Logger;
  maxBodyBytes: number;
}

/**
 * The drop-in OpenAI front door: POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models, on the same
 * keys, budgets, routing, limits and ledger as the GraphQL mutation (one pipeline, two doors). Its
 * router is mounted at /v1; its two POST routes are also handed to the HTTP server (`direct`), which
 * calls them without express for the common request.
 */
export function openAiDoor(deps: OpenAiDeps): { router: Router; direct: DirectPosts } {
  const router = Router();
  const start = requestIds(deps.log);
  const failures = doorFailures(deps, sendOpenAiError, fail);
  router.use(start);
  router.use(express.json({ limit: deps.maxBodyBytes }));

  const listModels = async (req: Request) => {
    const who = await authenticate(deps, req);
    const { models, providers } = await deps.catalog.catalog(who.projectId);
    const data = [...models.values()]
      .filter((m) => m.enabled)
      .map((m) => ({
        id: m.name,
        object: 'model',
        created: Math.floor(m.createdAt.getTime() / 1000),
        owned_by: providers.get(m.providerId)?.name ?? 'tollgate',
      }));
    return [{ id: 'auto', object: 'model', created: 0, owned_by: 'tollgate' }, ...data];
  };

  router.get('/models', async (req, res) => {
    try {
      res.json({ object: 'list', data: await listModels(req) });
    } catch (error) {
      failures.fail(res, error);
    }
  });

  router.get('/models/:id', async (req, res) => {
    try {
      const model = (await listModels(req)).find((m) => m.id === req.params.id);
      if (!model) throw new NotFoundError(`Model "${req.params.id}"`);
      res.json(model);
    } catch (error) {
      failures.fail(res, error);
    }
  });

  const route = (operation: 'chat' | 'embeddings', handle: (call: DoorCall) => Promise<void>) =>
    callRoute(deps, operation, 'openai', (req) => authenticate(deps, req), fail, handle);

  const chat = route('chat', async ({ req, res, who, options }) => {
    const request = toCompletionRequest(req.body, req.header('idempotency-key'));
    if (request.body.stream === true) return streamCompletion(deps, who, request, res, options);
    const result = await deps.completions.complete(who, request, options);
    res.setHeader('x-request-id', result.requestId);
    res.setHeader('x-tollgate-cost', formatUsd(result.cost));
    res.json(toWireCompletion(result));
  });
  const embeddings = route('embeddings', async ({ req, res, who, options }) => {
    const request = toCompletionRequest(req.body, req.header('idempotency-key'));
    const result = await deps.completions.embed(who, request, options);
    res.setHeader('x-request-id', result.requestId);
    res.setHeader('x-tollgate-cost', formatUsd(result.cost));
    res.json({
      ...result.completion,
      usage: isObject(result.completion.usage)
        ? result.completion.usage
        : { prompt_tokens: result.usage.prompt, total_tokens: result.usage.prompt },
      tollgate: tollgateFigures(result),
    });
  });
  router.post('/chat/completions', chat);
  router.post('/embeddings', embeddings);

  // Body-parser errors (malformed JSON, a body over the limit) and unknown routes answer in
  // OpenAI's shape too, so the SDKs can show the reason.
  router.use((_req: Request, res: Response) => {
    sendOpenAiError(res, new NotFoundError('This endpoint'));
  });
  router.use(failures.errorHandler);

  return {
    router,
    direct: {
      routes: new Map([
        ['/v1/chat/completions', chat],
        ['/v1/embeddings', embeddings],
      ]),
      start,
      maxBodyBytes: deps.maxBodyBytes,
      bodyError: failures.bodyError,
      fail: failures.fail,
    },
  };
}

/**
 * Server-sent events as the upstream streams them, chunk by chunk (tool-call deltas included), then
 * `data: [DONE]`. Tollgate always asks its upstream for the stream's usage; the client gets the
 * usage chunk only when it asked (`stream_options.include_usage`), with Tollgate's exact cost beside
 * it. Headers go out with the first chunk of substance, so a call refused before it starts still
 * gets a plain error with its status; a failure after that arrives as an error event.
 */
async function streamCompletion(
  deps: OpenAiDeps,
  who: KeyPrincipal,
  request: CompletionRequest,
  res: Response,
  call: DoorCall['options'],
): Promise<void> {
  const { signal, span } = call;
  // The call's id went out in x-request-id before the first byte, so the stream names the call with it.
  const requestId = request.requestId ?? call.callId;
  const streamOptions = request.body.stream_options;
  const wantsUsage = isObject(streamOptions) && streamOptions.include_usage === true;
  const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  const open = () => {
    if (res.headersSent) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': requestId,
    });
  };
  // The usage chunk waits for the settle, to carry the exact cost.
  let usageChunk: Record<string, unknown> | null = null;
  let finished = false;
  try {
    const result = await deps.completions.stream(
      who,
      request,
      (chunk) => {
        if (isObject(chunk.usage) && Array.isArray(chunk.choices) && chunk.choices.length === 0) {
          usageChunk = chunk;
          return;
        }
        open();
        finished ||= hasFinish(chunk);
        send(chunk);
      },
      call,
    );
    open();
    // A stream Tollgate cut at max_tokens never got the upstream's last chunk: it says why it ended.
    if (!finished) {
      send({
        id: result.completion.id,
        object: 'chat.completion.chunk',
        created: result.completion.created,
        model: result.completion.model ?? result.model,
        choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: result.finishReason }],
      });
    }
    if (wantsUsage) {
      const chunk: Record<string, unknown> = usageChunk ?? {
        id: result.completion.id,
        object: 'chat.completion.chunk',
        created: result.completion.created,
        model: result.completion.model ?? result.model,
        choices: [],
        usage: toOpenAiUsage(result.usage),
      };
      send({ ...chunk, tollgate: tollgateFigures(result) });
    }
    res.write('data: [DONE]\n\n');
    res.end();
  } catch (error) {
    if (!res.headersSent) throw error;
    span.fail(error);
    if (!res.writableEnded && !signal.aborted) {
      const { code, message } = publicError(logOf(res, deps.log), error);
      send({ error: { message, type: code.toLowerCase(), code: code.toLowerCase(), param: null } });
      res.end();
    }
  }
}

async function authenticate(deps: OpenAiDeps, req: Request): Promise<KeyPrincipal> {
  return authenticateKey(deps, req, req.header('authorization'));
}

/** Answers an error in OpenAI's shape; anything not a domain error is logged (publicError) and hidden. */
function fail(log: Logger, res: Response, error: unknown): void {
  const domain = publicError(log, error);
  if (!res.headersSent) sendOpenAiError(res, domain);
}

/**
 * OpenAI's request body, as the pipeline takes it: the whole body, forwarded as sent (the pipeline
 * checks what it reads, and names the field it refuses); `Idempotency-Key` is the requestId.
 */
export function toCompletionRequest(body: unknown, idempotencyKey: string | undefined): CompletionRequest {
  if (!isObject(body)) throw new BadInputError('The body must be a JSON object');
  return { body, requestId: idempotencyKey ?? null };
}

/** The upstream's answer as it sent it, with its usage (ours, counted, when it sent none) and Tollgate's figures. */
export function toWireCompletion(r: CompletionResult): Record<string, unknown> {
  return {
    ...r.completion,
    usage: isObject(r.completion.usage) ? r.completion.usage : toOpenAiUsage(r.usage),
    tollgate: tollgateFigures(r),
  };
}

const hasFinish = (chunk: Record<string, unknown>) =>
  Array.isArray(chunk.choices) &&
  chunk.choices.some((c) => isObject(c) && typeof c.finish_reason === 'string');

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

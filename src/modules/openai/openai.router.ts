import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { AuthThrottle } from '../projects/auth-throttle';
import { publicError } from '../../shared/public-error';
import { BadInputError, ForbiddenError, NotFoundError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { formatUsd } from '../../shared/money';
import type { CompletionService } from '../completions/completion.service';
import type { CompletionRequest, CompletionResult } from '../completions/completion.types';
import type { AuthService, KeyPrincipal } from '../projects/auth.service';
import type { CatalogService } from '../providers/catalog.service';
import type { ChatMessage, ChatRole } from '../upstream/upstream.types';
import { sendOpenAiError } from './openai.errors';

interface WireMessage {
  role?: unknown;
  content?: unknown;
  name?: unknown;
}

interface WireRequest {
  model?: unknown;
  messages?: unknown;
  max_tokens?: unknown;
  max_completion_tokens?: unknown;
  temperature?: unknown;
  stream?: unknown;
  stream_options?: unknown;
  n?: unknown;
  user?: unknown;
}

export interface OpenAiDeps {
  auth: AuthService;
  /** Shared with the GraphQL door. */
  throttle: AuthThrottle;
  completions: CompletionService;
  catalog: CatalogService;
  log: Logger;
  /** The caller's address (X-Forwarded-For only from a trusted proxy), for the throttle. */
  clientAddress: (req: IncomingMessage) => string;
  maxBodyBytes: number;
}

/**
 * The drop-in OpenAI front door: POST /v1/chat/completions and GET /v1/models, on the same
 * keys, budgets, routing, limits and ledger as the GraphQL mutation (one pipeline, two doors).
 */
export function openAiRouter(deps: OpenAiDeps): Router {
  const router = Router();
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
      fail(deps.log, res, error);
    }
  });

  router.get('/models/:id', async (req, res) => {
    try {
      const model = (await listModels(req)).find((m) => m.id === req.params.id);
      if (!model) throw new NotFoundError(`Model "${req.params.id}"`);
      res.json(model);
    } catch (error) {
      fail(deps.log, res, error);
    }
  });

  router.post('/chat/completions', async (req: Request, res: Response) => {
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client went away'));
    });
    try {
      const who = await authenticate(deps, req);
      const body = req.body as WireRequest;
      const request = toCompletionRequest(body, req.header('idempotency-key'));
      if (body.stream === true) {
        await streamCompletion(deps, who, request, body, res, controller.signal);
        return;
      }
      const result = await deps.completions.complete(who, request, controller.signal);
      res.setHeader('x-request-id', result.requestId);
      res.setHeader('x-tollgate-cost', formatUsd(result.cost));
      res.json(toWireCompletion(result));
    } catch (error) {
      fail(deps.log, res, error);
    }
  });

  // Body-parser errors (malformed JSON, a body over the limit) and unknown routes answer in
  // OpenAI's shape too, so the SDKs can show the reason.
  router.use((_req: Request, res: Response) => {
    sendOpenAiError(res, new NotFoundError('This endpoint'));
  });
  router.use(
    (
      error: Error & { status?: number; type?: string },
      _req: Request,
      res: Response,
      _next: NextFunction,
    ) => {
      if (error.type === 'entity.too.large') {
        sendOpenAiError(
          res,
          new BadInputError(`Request body is larger than ${deps.maxBodyBytes} bytes`),
          413,
        );
        return;
      }
      if (error.status && error.status >= 400 && error.status < 500) {
        sendOpenAiError(res, new BadInputError('The request body is not valid JSON'));
        return;
      }
      fail(deps.log, res, error);
    },
  );

  return router;
}

/**
 * Server-sent events as OpenAI streams them: a role chunk, content chunks, a finish chunk, the
 * usage chunk when `stream_options.include_usage` asks for it, then `data: [DONE]`. Headers go
 * out with the first piece of text, so a call refused before it starts still gets a plain error
 * with its status; a failure after that arrives as an error event.
 */
async function streamCompletion(
  deps: OpenAiDeps,
  who: KeyPrincipal,
  request: CompletionRequest,
  body: WireRequest,
  res: Response,
  signal: AbortSignal,
): Promise<void> {
  // Named before the first byte goes out, so the stream's headers can carry it.
  const callId = crypto.randomUUID();
  const requestId = request.requestId ?? callId;
  const id = `chatcmpl-${callId}`;
  const created = Math.floor(Date.now() / 1000);
  let model = request.model ?? 'auto';
  const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  const chunk = (delta: Record<string, unknown>, finishReason: string | null) =>
    send({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });
  const open = () => {
    if (res.headersSent) return;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': requestId,
    });
    chunk({ role: 'assistant', content: '' }, null);
  };
  try {
    const result = await deps.completions.stream(
      who,
      request,
      (text) => {
        open();
        chunk({ content: text }, null);
      },
      signal,
      callId,
    );
    model = result.model;
    open();
    chunk({}, result.finishReason);
    const options = body.stream_options as { include_usage?: unknown } | undefined;
    if (options?.include_usage === true) {
      send({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [],
        usage: {
          prompt_tokens: result.promptTokens,
          completion_tokens: result.completionTokens,
          total_tokens: result.totalTokens,
        },
        tollgate: { cost: formatUsd(result.cost), request_id: result.requestId },
      });
    }
    res.write('data: [DONE]\n\n');
    res.end();
  } catch (error) {
    if (!res.headersSent) throw error;
    if (!res.writableEnded && !signal.aborted) {
      const { code, message } = publicError(deps.log, error);
      send({ error: { message, type: code.toLowerCase(), code: code.toLowerCase(), param: null } });
      res.end();
    }
  }
}

async function authenticate(deps: OpenAiDeps, req: Request): Promise<KeyPrincipal> {
  const header = req.header('authorization');
  const who = await deps.throttle.check(deps.clientAddress(req), () => deps.auth.authenticateHeader(header));
  if (who.kind !== 'key') throw new ForbiddenError('Use a project key to make calls');
  return who;
}

/** Answers an error in OpenAI's shape; anything not a domain error is logged (publicError) and hidden. */
function fail(log: Logger, res: Response, error: unknown): void {
  const domain = publicError(log, error);
  if (!res.headersSent) sendOpenAiError(res, domain);
}

/** OpenAI's request body to the pipeline's request; text content parts are joined. */
export function toCompletionRequest(
  body: WireRequest | undefined,
  idempotencyKey: string | undefined,
): CompletionRequest {
  if (!body || typeof body !== 'object') throw new BadInputError('The body must be a JSON object');
  if (!Array.isArray(body.messages)) throw new BadInputError('messages must be an array', 'messages');
  if (body.n !== undefined && body.n !== null && body.n !== 1)
    throw new BadInputError('Only n = 1 is supported', 'n');
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens !== undefined && maxTokens !== null && typeof maxTokens !== 'number') {
    throw new BadInputError('max_tokens must be a number', 'max_tokens');
  }
  if (body.temperature !== undefined && body.temperature !== null && typeof body.temperature !== 'number') {
    throw new BadInputError('temperature must be a number', 'temperature');
  }
  if (body.model !== undefined && typeof body.model !== 'string')
    throw new BadInputError('model must be a string', 'model');
  return {
    model: body.model ?? 'auto',
    messages: (body.messages as WireMessage[]).map(toMessage),
    maxTokens: (maxTokens as number | null | undefined) ?? null,
    temperature: (body.temperature as number | null | undefined) ?? null,
    requestId: idempotencyKey ?? null,
  };
}

function toMessage(message: WireMessage, index: number): ChatMessage {
  if (!message || typeof message !== 'object')
    throw new BadInputError(`messages[${index}] must be an object`, 'messages');
  let content: string;
  if (typeof message.content === 'string') content = message.content;
  else if (message.content === null || message.content === undefined) content = '';
  else if (Array.isArray(message.content)) {
    content = message.content
      .map((part: { type?: unknown; text?: unknown }) => {
        if (part?.type !== 'text' || typeof part.text !== 'string') {
          throw new BadInputError(`messages[${index}].content: only text parts are supported`, 'messages');
        }
        return part.text;
      })
      .join('');
  } else throw new BadInputError(`messages[${index}].content must be a string or text parts`, 'messages');
  const role = (message.role === 'developer' ? 'system' : message.role) as ChatRole;
  return { role, content, name: typeof message.name === 'string' ? message.name : null };
}

export function toWireCompletion(r: CompletionResult): Record<string, unknown> {
  return {
    id: `chatcmpl-${r.id}`,
    object: 'chat.completion',
    created: Math.floor(r.createdAt.getTime() / 1000),
    model: r.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: r.content, refusal: null },
        logprobs: null,
        finish_reason: r.finishReason,
      },
    ],
    usage: {
      prompt_tokens: r.promptTokens,
      completion_tokens: r.completionTokens,
      total_tokens: r.totalTokens,
    },
    tollgate: {
      cost: formatUsd(r.cost),
      request_id: r.requestId,
      tier: r.tier,
      fallbacks: r.fallbacks,
      downgraded: r.downgraded,
      replayed: r.replayed,
    },
  };
}

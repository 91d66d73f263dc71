import type { Attributes } from '@opentelemetry/api';
import { formatUsd } from '../../shared/money';
import type { CompletionResult } from './completion.types';
import type { ValidRequest } from './completion.validation';

/**
 * A call's span attributes: OpenTelemetry's GenAI semantic conventions (gen_ai.*) where they name
 * the figure, Tollgate's own (tollgate.*) for the rest: exact cost, routing, budget decision.
 */
export function requestAttributes(req: ValidRequest, streamed: boolean): Attributes {
  const body = req.body;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return {
    'gen_ai.operation.name': req.kind === 'EMBEDDING' ? 'embeddings' : 'chat',
    'gen_ai.request.model': req.model,
    ...(req.kind === 'CHAT'
      ? {
          'gen_ai.request.max_tokens': req.maxTokens,
          'gen_ai.request.stream': streamed,
          'gen_ai.request.choice.count': req.n,
        }
      : {}),
    ...(req.temperature !== null ? { 'gen_ai.request.temperature': req.temperature } : {}),
    ...(number(body.top_p) !== undefined ? { 'gen_ai.request.top_p': number(body.top_p) } : {}),
    ...(number(body.seed) !== undefined ? { 'gen_ai.request.seed': number(body.seed) } : {}),
    ...(req.requestId ? { 'tollgate.request_id': req.requestId } : {}),
    ...(req.native ? { 'tollgate.door.format': req.native.format } : {}),
  };
}

export function resultAttributes(r: CompletionResult): Attributes {
  const id = r.completion.id;
  return {
    'gen_ai.response.model': r.model,
    ...(typeof id === 'string' ? { 'gen_ai.response.id': id } : {}),
    'gen_ai.response.finish_reasons': [r.finishReason],
    'gen_ai.usage.input_tokens': r.usage.prompt,
    'gen_ai.usage.output_tokens': r.usage.completion,
    'gen_ai.usage.cache_read.input_tokens': r.usage.cachedPrompt,
    'gen_ai.usage.cache_creation.input_tokens': r.usage.cacheWrite,
    'gen_ai.usage.reasoning.output_tokens': r.usage.reasoning,
    'tollgate.provider': r.provider,
    'tollgate.request_id': r.requestId,
    'tollgate.cost_usd': formatUsd(r.cost),
    'tollgate.cache_savings_usd': formatUsd(r.cacheSavings),
    'tollgate.route.tier': r.tier ?? 'EXPLICIT',
    'tollgate.fallbacks': r.fallbacks,
    'tollgate.attempts': r.attempts,
    'tollgate.downgraded': r.downgraded,
    'tollgate.replayed': r.replayed,
    'tollgate.priced': r.priced,
  };
}

import { DomainError, RateLimitedError, UpstreamError, UpstreamUnavailableError } from '../../shared/errors';
import type { NativeRequest } from '../../shared/native-request';
import { NO_SPAN, SpanKind, type CallSpan } from '../../shared/tracing';
import type { Agent } from 'undici';
import { EgressRefusedError, type EgressPolicy } from '../../shared/egress';
import type { BreakerRegistry } from './circuit-breaker';
import { DEFAULT_RETRY, isRetryable, retryDelay, type RetryPolicy } from './retry';
import type { UpstreamLimiter } from './upstream-limiter';
import type { CatalogService } from '../providers/catalog.service';
import { DEFAULT_SIMULATION } from '../providers/catalog.service';
import type { Model } from '../providers/model.entity';
import { OpenAiTransport } from './openai.transport';
import { AnthropicTransport, HttpAnthropicWire } from './anthropic.transport';
import { SimulatedAnthropicWire } from './simulated-anthropic';
import type { Provider } from '../providers/provider.entity';
import { SimulatedTransport, sleep } from './simulated.transport';
import {
  UpstreamHttpError,
  UpstreamNetworkError,
  UpstreamProtocolError,
  type UpstreamOperation,
  type UpstreamReply,
  type UpstreamTransport,
} from './upstream.types';

export interface CallResult {
  reply: UpstreamReply;
  /** Upstream requests made, retries and key rotations included. */
  attempts: number;
  upstreamLatencyMs: number;
}

/** One call of a model, as the pipeline asks for it. */
export interface UpstreamCall {
  provider: Provider;
  model: Model;
  /** Chat (the default) or embeddings. */
  operation?: UpstreamOperation;
  /** OpenAI's request, as the client sent it (the model is set to the upstream's name). */
  body: Record<string, unknown>;
  /** Aborts the call (the client went away, or the call's deadline passed). */
  signal?: AbortSignal;
  /** The client's own request, when a door received it in another format. */
  native?: NativeRequest;
  /** The call's span: each upstream request is a child span, and carries its traceparent upstream. */
  span?: CallSpan;
  /** Streams the reply: each chunk as it arrives. */
  onChunk?: (chunk: Record<string, unknown>) => void;
  /**
   * The caller has another model to fall back on: a timeout then ends this model's tries at once
   * (a model that hung once is likely to hang again; the next one is the better bet).
   */
  fallbackOnTimeout?: boolean;
}

/** A failed upstream call, already mapped to a domain error, with what it cost in attempts. */
export class UpstreamCallFailed extends Error {
  constructor(
    readonly error: DomainError,
    readonly attempts: number,
    readonly upstreamLatencyMs: number,
    /** True when a request was sent upstream at least once (so a usage record of the failure is due). */
    readonly reached: boolean,
  ) {
    super(error.message);
  }
}

/**
 * Calls a model's provider. Each request goes through the model's circuit breaker and one
 * upstream key's limits (concurrency slot, RPM token); a refused key (401/403) is set aside for
 * its cooldown and the next key is tried; 429, 5xx, timeouts and connection failures are retried
 * with backoff (Retry-After honoured) until the policy's attempts run out or the circuit opens.
 * A 429 is the upstream's back-pressure, not a fault of the model: it never counts toward opening
 * the circuit.
 */
export class UpstreamClient {
  private readonly transports = new Map<string, { version: Date; transport: UpstreamTransport }>();
  /** Every upstream connection goes through the operator's egress policy. */
  private readonly dispatcher: Agent;

  constructor(
    private readonly catalog: CatalogService,
    private readonly limiter: UpstreamLimiter,
    private readonly breakers: BreakerRegistry,
    egress: EgressPolicy,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.dispatcher = egress.dispatcher({ keepAliveTimeout: 30_000, connections: 256, pipelining: 1 });
  }

  /** Whether routing may send to this model now: its circuit lets calls through and a key is usable. */
  isHealthy(provider: Provider, model: Model): boolean {
    return this.breakers.isAvailable(provider.id, model.name) && !this.limiter.allKeysFailed(provider);
  }

  /** Whether a request could start on this provider right now (a free slot and an RPM token). */
  hasCapacity(provider: Provider): boolean {
    return this.limiter.hasCapacity(provider);
  }

  async call(call: UpstreamCall): Promise<CallResult> {
    const { provider, model, signal } = call;
    const transport = this.transport(provider);
    // Once a streamed piece reached the caller, the call can no longer be retried or rerouted.
    let delivered = false;
    const onChunk = call.onChunk;
    const deliver = onChunk
      ? (chunk: Record<string, unknown>) => {
          delivered = true;
          onChunk(chunk);
        }
      : undefined;
    const request = {
      model: model.upstreamName,
      body: call.body,
      signal,
      onChunk: deliver,
      ...(call.native ? { native: call.native } : {}),
    };
    // What this upstream cannot carry is the client's to fix: refused before anything is taken.
    try {
      transport.check(request);
    } catch (error) {
      if (error instanceof DomainError) throw new UpstreamCallFailed(error, 0, 0, false);
      throw error;
    }
    const values = this.keyValues(provider);
    // Keys this call may not use: missing values (an unset or disallowed env var), then any refused on the way.
    const skip = new Set(values.flatMap((v, i) => (v === null ? [i] : [])));
    const breaker = this.breakers.get(provider.id, model.name);
    const started = performance.now();
    let attempts = 0;
    let failures = 0;
    let last: unknown;
    const fail = (error: DomainError): UpstreamCallFailed =>
      new UpstreamCallFailed(error, attempts, Math.round(performance.now() - started), attempts > 0);
    const lastOr = (fallback: () => DomainError): DomainError =>
      last === undefined ? fallback() : mapUpstreamError(last, provider.name);

    for (;;) {
      if (!breaker.isAvailable()) throw fail(lastOr(() => circuitOpen(provider, model)));
      const key = this.limiter.pickKey(provider, skip);
      if (key === null) throw fail(lastOr(() => noUsableKey(provider, values.length, skip.size)));
      let release: () => void;
      try {
        release = await this.limiter.acquire(provider, key, signal);
      } catch (error) {
        throw fail(
          error instanceof RateLimitedError ? error : lastOr(() => mapUpstreamError(error, provider.name)),
        );
      }
      const pass = breaker.tryPass();
      if (pass === null) {
        release();
        continue; // another caller holds the half-open probe: the check above now refuses
      }
      attempts++;
      const span = this.attemptSpan(call, attempts);
      const sent = span.recording ? { ...request, headers: span.headers() } : request;
      let error: unknown;
      try {
        const reply = await (call.operation === 'embeddings'
          ? transport.embed(sent, values[key] ?? undefined)
          : transport.complete(sent, values[key] ?? undefined));
        breaker.onSuccess(pass);
        if (span.recording) span.set({ 'gen_ai.response.model': reply.model });
        return { reply, attempts, upstreamLatencyMs: Math.round(performance.now() - started) };
      } catch (caught) {
        error = caught;
        span.fail(caught);
        if (caught instanceof UpstreamHttpError) span.set({ 'http.response.status_code': caught.status });
      } finally {
        release();
        span.end();
      }
      last = error;
      if (signal?.aborted || delivered) {
        breaker.onNeutral(pass);
        throw fail(mapUpstreamError(error, provider.name));
      }
      if (error instanceof DomainError) {
        // The transport's own verdict (an Anthropic stream's error event, an answer it cannot read).
        if (error.code === 'UPSTREAM_UNAVAILABLE') this.breakers.fail(provider, model.name, pass);
        else breaker.onNeutral(pass);
        throw fail(error);
      }
      if (error instanceof EgressRefusedError) {
        breaker.onNeutral(pass); // the operator's policy, not the model's health
        throw fail(mapUpstreamError(error, provider.name));
      }
      if (error instanceof UpstreamHttpError && (error.status === 401 || error.status === 403)) {
        // The key, not the model: set it aside for its cooldown and go on with the next one.
        breaker.onNeutral(pass);
        this.limiter.markFailed(provider, key);
        skip.add(key);
        continue;
      }
      if (!isRetryable(error)) {
        if (error instanceof UpstreamHttpError)
          breaker.onSuccess(pass); // it answered: the model is up
        else this.breakers.fail(provider, model.name, pass);
        throw fail(mapUpstreamError(error, provider.name));
      }
      if (error instanceof UpstreamHttpError && error.status === 429) breaker.onNeutral(pass);
      else this.breakers.fail(provider, model.name, pass);
      failures++;
      const hung = error instanceof UpstreamNetworkError && error.reason === 'timeout';
      const delay =
        failures < this.retry.attempts && !(hung && call.fallbackOnTimeout)
          ? retryDelay(error, failures, this.retry)
          : null;
      if (delay === null) throw fail(mapUpstreamError(error, provider.name));
      try {
        await sleep(delay, signal);
      } catch {
        throw fail(mapUpstreamError(error, provider.name));
      }
    }
  }

  /** One upstream request's span (kind CLIENT), named as the GenAI conventions name a model call. */
  private attemptSpan(call: UpstreamCall, attempt: number): CallSpan {
    const parent = call.span ?? NO_SPAN;
    if (!parent.recording) return NO_SPAN;
    const { provider, model } = call;
    const operation = call.operation === 'embeddings' ? 'embeddings' : 'chat';
    return parent.child(
      `${operation} ${model.upstreamName}`,
      {
        'gen_ai.operation.name': operation,
        'gen_ai.provider.name': GEN_AI_PROVIDER[provider.kind],
        'gen_ai.request.model': model.upstreamName,
        'tollgate.provider': provider.name,
        'tollgate.attempt': attempt,
        ...(provider.baseUrl ? { 'server.address': new URL(provider.baseUrl).hostname } : {}),
      },
      SpanKind.CLIENT,
    );
  }

  /** Each key slot's plaintext, by position; null where it cannot be had (an unset or disallowed env var). */
  private keyValues(provider: Provider): (string | undefined | null)[] {
    if (provider.kind === 'SIMULATED') return [undefined];
    return this.catalog.upstreamKeys(provider);
  }

  private transport(provider: Provider): UpstreamTransport {
    const cached = this.transports.get(provider.id);
    if (cached && cached.version === provider.createdAt) return cached.transport;
    const transport = this.transportOf(provider);
    this.transports.set(provider.id, { version: provider.createdAt, transport });
    return transport;
  }

  private transportOf(provider: Provider): UpstreamTransport {
    switch (provider.kind) {
      case 'SIMULATED': {
        const settings = { ...DEFAULT_SIMULATION, ...(provider.simulation ?? {}) };
        return settings.wire === 'ANTHROPIC'
          ? new AnthropicTransport(new SimulatedAnthropicWire(settings))
          : new SimulatedTransport(settings);
      }
      case 'ANTHROPIC':
        return new AnthropicTransport(
          new HttpAnthropicWire(provider.baseUrl ?? '', provider.timeoutMs, this.dispatcher),
        );
      case 'OPENAI_COMPATIBLE':
        return new OpenAiTransport(provider.baseUrl ?? '', provider.timeoutMs, this.dispatcher);
    }
  }
}

/** gen_ai.provider.name by provider kind (the conventions' well-known values where there is one). */
const GEN_AI_PROVIDER: Record<Provider['kind'], string> = {
  OPENAI_COMPATIBLE: 'openai',
  ANTHROPIC: 'anthropic',
  SIMULATED: 'tollgate.simulated',
};

function circuitOpen(provider: Provider, model: Model): UpstreamUnavailableError {
  return new UpstreamUnavailableError(`The circuit of "${model.name}" on "${provider.name}" is open`, {
    provider: provider.name,
    model: model.name,
    circuit: 'OPEN',
  });
}

function noUsableKey(provider: Provider, total: number, unusable: number): UpstreamUnavailableError {
  return new UpstreamUnavailableError(
    total === 0
      ? `Provider "${provider.name}" has no usable upstream key`
      : `Every upstream key of "${provider.name}" is failed or missing (${unusable} of ${total}); failed keys are retried after a cooldown`,
    { provider: provider.name },
  );
}

function mapUpstreamError(error: unknown, provider: string): DomainError {
  if (error instanceof DomainError) return error; // the transport's own verdict
  if (error instanceof EgressRefusedError) {
    return new UpstreamError(`Provider "${provider}" points at an address the operator does not allow`, {
      provider,
    });
  }
  if (error instanceof UpstreamHttpError) {
    if (error.status === 401 || error.status === 403) {
      return new UpstreamUnavailableError(`Every upstream key of "${provider}" was refused`, { provider });
    }
    if (error.status === 429 || error.status >= 500) {
      return new UpstreamUnavailableError(`Upstream "${provider}" is unavailable (HTTP ${error.status})`, {
        provider,
        status: error.status,
      });
    }
    // The upstream judged the request itself (400, 404, 422...): the client hears its reason.
    const said = error.upstream;
    return new UpstreamError(
      `Upstream "${provider}" refused the request (HTTP ${error.status})${said?.message ? `: ${said.message}` : ''}`,
      {
        provider,
        status: error.status,
        ...(said?.type ? { upstreamType: said.type } : {}),
        ...(said?.param ? { field: said.param } : {}),
        ...(said?.code ? { upstreamCode: said.code } : {}),
      },
    );
  }
  if (error instanceof UpstreamNetworkError) {
    return new UpstreamUnavailableError(
      error.reason === 'timeout'
        ? `Upstream "${provider}" timed out`
        : `Upstream "${provider}" could not be reached`,
      { provider },
    );
  }
  if (error instanceof UpstreamProtocolError) {
    return new UpstreamError(`Upstream "${provider}" sent an invalid answer`, { provider });
  }
  return new UpstreamUnavailableError(`Upstream "${provider}" failed`, { provider });
}

import {
  RateLimitedError,
  UpstreamError,
  UpstreamUnavailableError,
  type DomainError,
} from '../../shared/errors';
import type { BreakerRegistry } from '../limits/circuit-breaker';
import { DEFAULT_RETRY, isRetryable, retryDelay, type RetryPolicy } from '../limits/retry';
import type { UpstreamLimiter } from '../limits/upstream-limiter';
import type { CatalogService } from './catalog.service';
import { DEFAULT_SIMULATION } from './catalog.service';
import type { Model } from './model.entity';
import { OpenAiTransport } from './openai.transport';
import type { Provider } from './provider.entity';
import { SimulatedTransport, sleep } from './simulated.transport';
import {
  UpstreamHttpError,
  UpstreamNetworkError,
  UpstreamProtocolError,
  type ChatMessage,
  type UpstreamReply,
  type UpstreamTransport,
} from './upstream.types';

export interface CallResult {
  reply: UpstreamReply;
  /** Upstream requests made, retries and key rotations included. */
  attempts: number;
  upstreamLatencyMs: number;
}

/** A failed upstream call, already mapped to a domain error, with what it cost in attempts. */
export class UpstreamCallFailed extends Error {
  constructor(
    readonly error: DomainError,
    readonly attempts: number,
    readonly upstreamLatencyMs: number,
    /** True when the upstream was reached at least once (so a usage record is due). */
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
 */
export class UpstreamClient {
  private readonly transports = new Map<string, { version: Date; transport: UpstreamTransport }>();

  constructor(
    private readonly catalog: CatalogService,
    private readonly limiter: UpstreamLimiter,
    private readonly breakers: BreakerRegistry,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  /** Whether routing may send to this model now: its circuit lets calls through and a key is usable. */
  isHealthy(provider: Provider, model: Model): boolean {
    return this.breakers.isAvailable(provider.id, model.name) && !this.limiter.allKeysFailed(provider);
  }

  /** Whether a request could start on this provider right now (a free slot and an RPM token). */
  hasCapacity(provider: Provider): boolean {
    return this.limiter.hasCapacity(provider);
  }

  async call(
    provider: Provider,
    model: Model,
    messages: ChatMessage[],
    maxTokens: number,
    temperature: number | null | undefined,
    signal?: AbortSignal,
    onDelta?: (text: string) => void,
  ): Promise<CallResult> {
    const transport = this.transport(provider);
    // Once a streamed piece reached the caller, the call can no longer be retried or rerouted.
    let delivered = false;
    const deliver = onDelta
      ? (text: string) => {
          delivered = true;
          onDelta(text);
        }
      : undefined;
    const values = this.keyValues(provider);
    // Keys this call may not use: missing values (an unset env var), then any refused on the way.
    const skip = new Set(values.flatMap((v, i) => (v === null ? [i] : [])));
    const breaker = this.breakers.get(provider.id, model.name);
    const started = performance.now();
    let attempts = 0;
    let failures = 0;
    let reached = false;
    let last: unknown;
    const fail = (error: DomainError): UpstreamCallFailed =>
      new UpstreamCallFailed(error, attempts, Math.round(performance.now() - started), reached);
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
      if (!breaker.tryPass()) {
        release();
        continue; // another caller holds the half-open probe: the check above now refuses
      }
      attempts++;
      let error: unknown;
      try {
        const reply = await transport.complete(
          { model: model.upstreamName, messages, maxTokens, temperature, signal, onDelta: deliver },
          values[key] ?? undefined,
        );
        breaker.onSuccess();
        return { reply, attempts, upstreamLatencyMs: Math.round(performance.now() - started) };
      } catch (caught) {
        error = caught;
      } finally {
        release();
      }
      last = error;
      reached ||= delivered || error instanceof UpstreamHttpError || error instanceof UpstreamProtocolError;
      if (signal?.aborted || delivered) {
        breaker.onNeutral();
        throw fail(mapUpstreamError(error, provider.name));
      }
      if (error instanceof UpstreamHttpError && (error.status === 401 || error.status === 403)) {
        // The key, not the model: set it aside for its cooldown and go on with the next one.
        breaker.onNeutral();
        this.limiter.markFailed(provider, key);
        skip.add(key);
        continue;
      }
      if (!isRetryable(error)) {
        if (error instanceof UpstreamHttpError)
          breaker.onSuccess(); // it answered: the model is up
        else this.breakers.fail(provider, model.name);
        throw fail(mapUpstreamError(error, provider.name));
      }
      this.breakers.fail(provider, model.name);
      failures++;
      const delay = failures < this.retry.attempts ? retryDelay(error, failures, this.retry) : null;
      if (delay === null) throw fail(mapUpstreamError(error, provider.name));
      try {
        await sleep(delay, signal);
      } catch {
        throw fail(mapUpstreamError(error, provider.name));
      }
    }
  }

  /** Each key slot's plaintext, by position; null where it cannot be had (an unset env var). */
  private keyValues(provider: Provider): (string | undefined | null)[] {
    if (provider.kind === 'SIMULATED') return [undefined];
    // One reference at a time, so positions match the limiter's key slots even when one is missing.
    return provider.upstreamKeys.map(
      (ref) => this.catalog.upstreamKeys({ ...provider, upstreamKeys: [ref] })[0] ?? null,
    );
  }

  private transport(provider: Provider): UpstreamTransport {
    const cached = this.transports.get(provider.id);
    if (cached && cached.version === provider.createdAt) return cached.transport;
    const transport =
      provider.kind === 'SIMULATED'
        ? new SimulatedTransport({ ...DEFAULT_SIMULATION, ...(provider.simulation ?? {}) })
        : new OpenAiTransport(provider.baseUrl ?? '', provider.timeoutMs);
    this.transports.set(provider.id, { version: provider.createdAt, transport });
    return transport;
  }
}

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

function mapUpstreamError(error: unknown, provider: string): UpstreamError | UpstreamUnavailableError {
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
    return new UpstreamError(`Upstream "${provider}" refused the request (HTTP ${error.status})`, {
      provider,
      status: error.status,
    });
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

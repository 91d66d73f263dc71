import { UpstreamError, UpstreamUnavailableError } from '../../shared/errors';
import { AttemptsExhaustedError, DEFAULT_RETRY, withRetries, type RetryPolicy } from '../limits/retry';
import type { CatalogService } from './catalog.service';
import { DEFAULT_SIMULATION } from './catalog.service';
import type { Model } from './model.entity';
import { OpenAiTransport } from './openai.transport';
import type { Provider } from './provider.entity';
import { SimulatedTransport } from './simulated.transport';
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
  attempts: number;
  upstreamLatencyMs: number;
}

/** A failed upstream call, already mapped to a domain error, with what it cost in attempts. */
export class UpstreamCallFailed extends Error {
  constructor(
    readonly error: UpstreamError | UpstreamUnavailableError,
    readonly attempts: number,
    readonly upstreamLatencyMs: number,
    /** True when the upstream was reached at least once (so a usage record is due). */
    readonly reached: boolean,
  ) {
    super(error.message);
  }
}

/**
 * Calls a model's provider: picks the transport, retries what is retryable, and rotates to the
 * next upstream key when one is refused (401/403).
 */
export class UpstreamClient {
  private readonly transports = new Map<string, { version: Date; transport: UpstreamTransport }>();
  private readonly keyCursor = new Map<string, number>();

  constructor(
    private readonly catalog: CatalogService,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  async call(
    provider: Provider,
    model: Model,
    messages: ChatMessage[],
    maxTokens: number,
    temperature: number | null | undefined,
    signal?: AbortSignal,
  ): Promise<CallResult> {
    const transport = this.transport(provider);
    const keys = provider.kind === 'SIMULATED' ? [undefined] : this.catalog.upstreamKeys(provider);
    if (keys.length === 0) {
      throw new UpstreamCallFailed(
        new UpstreamUnavailableError(`Provider "${provider.name}" has no usable upstream key`),
        0,
        0,
        false,
      );
    }
    const started = performance.now();
    let reached = false;
    try {
      const { value, attempts } = await withRetries(
        async () => {
          const reply = await this.withKeyRotation(provider.id, keys, (key) =>
            transport.complete({ model: model.upstreamName, messages, maxTokens, temperature, signal }, key),
          );
          reached = true;
          return reply;
        },
        this.retry,
        signal,
      );
      return { reply: value, attempts, upstreamLatencyMs: Math.round(performance.now() - started) };
    } catch (error) {
      const latency = Math.round(performance.now() - started);
      const exhausted =
        error instanceof AttemptsExhaustedError ? error : new AttemptsExhaustedError(error, 1);
      const last = exhausted.last;
      reached ||= last instanceof UpstreamHttpError || last instanceof UpstreamProtocolError;
      throw new UpstreamCallFailed(
        mapUpstreamError(last, provider.name),
        exhausted.attempts,
        latency,
        reached,
      );
    }
  }

  private async withKeyRotation(
    providerId: string,
    keys: (string | undefined)[],
    fn: (key: string | undefined) => Promise<UpstreamReply>,
  ): Promise<UpstreamReply> {
    const start = this.keyCursor.get(providerId) ?? 0;
    for (let i = 0; i < keys.length; i++) {
      const index = (start + i) % keys.length;
      try {
        const reply = await fn(keys[index]);
        this.keyCursor.set(providerId, index);
        return reply;
      } catch (error) {
        const refused = error instanceof UpstreamHttpError && (error.status === 401 || error.status === 403);
        if (!refused || i === keys.length - 1) throw error;
      }
    }
    throw new Error('unreachable');
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

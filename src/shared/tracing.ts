import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { DomainError } from './errors';

export { SpanKind };

const propagator = new W3CTraceContextPropagator();
const getter = {
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
  get: (carrier: Record<string, string>, key: string) => carrier[key],
};
const setter = {
  set: (carrier: Record<string, string>, key: string, value: string) => {
    carrier[key] = value;
  },
};

/** Milliseconds since the epoch, with the sub-millisecond part (what OTel takes as a span time). */
export const nowMs = (): number => performance.timeOrigin + performance.now();

/**
 * One span of a call: attributes set as they become known, an error recorded with its code, ended
 * once. Off (no exporter configured), every method does nothing and `recording` is false, so hot
 * code can skip building attributes.
 */
export class CallSpan {
  constructor(
    private readonly tracer: Tracer | null,
    private readonly span: Span | null,
  ) {}

  get recording(): boolean {
    return this.span !== null;
  }

  set(attributes: Attributes): this {
    this.span?.setAttributes(attributes);
    return this;
  }

  /** Marks the span failed: the error's code (a DomainError's, else its name) and message. */
  fail(error: unknown): this {
    if (!this.span) return this;
    const type = error instanceof DomainError ? error.code : error instanceof Error ? error.name : 'Error';
    this.span.setAttribute('error.type', type);
    // The code, not the message: a message may hold what an upstream answered (a key or a prompt
    // echoed back, passed on to the client in an upstream 4xx) or a database's detail, and the
    // collector may be someone else's. The logs, keyed by the same trace id, have the rest.
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: type });
    return this;
  }

  end(endTime?: number): void {
    this.span?.end(endTime);
  }

  /** A child span; `startTime` for a step timed before its parent span existed (authentication). */
  child(name: string, attributes?: Attributes, kind = SpanKind.INTERNAL, startTime?: number): CallSpan {
    if (!this.tracer || !this.span) return this;
    const parent = trace.setSpan(ROOT_CONTEXT, this.span);
    return new CallSpan(this.tracer, this.tracer.startSpan(name, { kind, attributes, startTime }, parent));
  }

  /** Runs `step` in a child span, which ends with it (failed when it throws). */
  async within<T>(name: string, step: (span: CallSpan) => Promise<T>, attributes?: Attributes): Promise<T> {
    if (!this.span) return step(this);
    const span = this.child(name, attributes);
    try {
      return await step(span);
    } catch (error) {
      span.fail(error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** This span as a W3C `traceparent` (and `tracestate`) for an upstream request; empty when off. */
  headers(): Record<string, string> {
    if (!this.span) return {};
    const carrier: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, this.span), carrier, setter);
    return carrier;
  }
}

/** A span that records nothing: what every call gets when tracing is off. */
export const NO_SPAN = new CallSpan(null, null);

export interface TracingOptions {
  /** OTLP/HTTP traces endpoint (…/v1/traces). */
  url: string;
  serviceName: string;
  headers?: Record<string, string>;
}

/**
 * Tollgate's traces: one root span per call (a completion or embeddings), started by the door that
 * received it and continuing the client's W3C `traceparent`, with child spans for its steps. Spans
 * go to an OTLP/HTTP collector in batches; with no endpoint configured there is no provider at all
 * and every span is NO_SPAN.
 */
/** Longest model name a span is named after: as long as a valid one (longer ones are refused later). */
const MAX_MODEL_IN_NAME = 200;

/**
 * A call's root span name, `chat gpt-4.1`, from the body as sent: before authentication and
 * validation, so an absent or odd model reads as `auto` and a long one is cut (a span name is kept
 * whole until it is exported).
 */
export function callSpanName(operation: string, model: unknown): string {
  const name = typeof model === 'string' && model.length > 0 ? model : 'auto';
  return `${operation} ${name.length > MAX_MODEL_IN_NAME ? `${name.slice(0, MAX_MODEL_IN_NAME)}...` : name}`;
}

export class Tracing {
  private constructor(
    private readonly tracer: Tracer | null,
    private readonly provider: BasicTracerProvider | null,
  ) {}

  static off(): Tracing {
    return new Tracing(null, null);
  }

  static otlp(options: TracingOptions): Tracing {
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': options.serviceName }),
      spanProcessors: [
        new BatchSpanProcessor(new OTLPTraceExporter({ url: options.url, headers: options.headers }), {
          scheduledDelayMillis: 500,
        }),
      ],
    });
    return new Tracing(provider.getTracer('tollgate'), provider);
  }

  get enabled(): boolean {
    return this.tracer !== null;
  }

  /**
   * A call's root span, child of the client's trace when it sent a `traceparent` (and, for GraphQL,
   * started when its request arrived).
   */
  startCall(
    name: string,
    traceparent: string | undefined,
    attributes: Attributes = {},
    startTime?: number,
  ): CallSpan {
    if (!this.tracer) return NO_SPAN;
    const parent: Context = traceparent
      ? propagator.extract(ROOT_CONTEXT, { traceparent }, getter)
      : ROOT_CONTEXT;
    return new CallSpan(
      this.tracer,
      this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, startTime }, parent),
    );
  }

  /** Sends what is buffered (tests, shutdown). */
  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

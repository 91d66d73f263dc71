/**
 * The live side: one graphql-ws connection for the session (subscriptions: budget metrics,
 * alerts, the playground's streamed completion). It authenticates in `connection_init`,
 * reconnects forever with capped backoff (a server restart is survived), pings to notice a dead
 * peer, and reports its state so the header can show it.
 */
import { createClient, type Client } from 'graphql-ws';
import { ApiError, GRAPHQL_PATH, type GraphQLErrorShape } from './api';

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'refused';

export interface ConnectionState {
  status: ConnectionStatus;
  /** Failed attempts since the last good connection. */
  retries: number;
  /** When the status last changed (ms). */
  since: number;
  detail?: string;
}

export interface SubscriptionHandlers<T> {
  next(data: T): void;
  error?(error: ApiError): void;
  complete?(): void;
}

export interface LiveClient {
  subscribe<T>(
    query: string,
    variables: Record<string, unknown>,
    handlers: SubscriptionHandlers<T>,
  ): () => void;
  /** Listens to connection changes; called at once with the current state. */
  onState(listener: (state: ConnectionState) => void): () => void;
  /** Called after every (re)connection: the moment to refetch what may have been missed. */
  onConnected(listener: (reconnected: boolean) => void): () => void;
  dispose(): void;
}

/** Close codes that mean "this key is not welcome": never retried. */
const REFUSED = new Set([4401, 4403]);
const PING_EVERY_MS = 10_000;
const PONG_WITHIN_MS = 5_000;

export function liveUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${GRAPHQL_PATH}`;
}

export function createLiveClient(key: string, onRefused: (detail: string) => void): LiveClient {
  let state: ConnectionState = { status: 'connecting', retries: 0, since: Date.now() };
  const stateListeners = new Set<(s: ConnectionState) => void>();
  const connectedListeners = new Set<(reconnected: boolean) => void>();
  const setState = (next: Omit<ConnectionState, 'since'>) => {
    if (next.status === state.status && next.retries === state.retries && next.detail === state.detail)
      return;
    state = { ...next, since: next.status === state.status ? state.since : Date.now() };
    for (const l of stateListeners) l(state);
  };

  let everConnected = false;
  let socket: WebSocket | undefined;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;

  const client: Client = createClient({
    url: liveUrl(),
    connectionParams: { authorization: `Bearer ${key}` },
    lazy: false,
    keepAlive: PING_EVERY_MS,
    retryAttempts: Number.POSITIVE_INFINITY,
    // 0.5 s, 1 s, 2 s, then every 3 s (with jitter), so a restarted server is found quickly
    retryWait: (retries) =>
      new Promise((resolve) =>
        setTimeout(resolve, Math.min(3000, 500 * 2 ** retries) * (0.75 + Math.random() / 2)),
      ),
    shouldRetry: (event) => !REFUSED.has(closeCode(event) ?? 0),
    onNonLazyError: (event) => {
      const code = closeCode(event);
      if (code !== undefined && REFUSED.has(code)) return;
      setState({ status: 'reconnecting', retries: state.retries + 1, detail: 'connection failed' });
    },
    on: {
      connecting: (isRetry) => {
        if (disposed) return;
        setState(
          isRetry || everConnected
            ? { status: 'reconnecting', retries: state.retries }
            : { status: 'connecting', retries: 0 },
        );
      },
      connected: (s) => {
        socket = s as WebSocket;
        const reconnected = everConnected;
        everConnected = true;
        setState({ status: 'live', retries: 0 });
        for (const l of connectedListeners) l(reconnected);
      },
      closed: (event) => {
        socket = undefined;
        clearTimeout(pongTimer);
        if (disposed) return;
        const code = closeCode(event);
        if (code !== undefined && REFUSED.has(code)) {
          const detail = (event as CloseEvent).reason || 'the key was refused';
          setState({ status: 'refused', retries: state.retries, detail });
          onRefused(detail);
          return;
        }
        setState({
          status: 'reconnecting',
          retries: state.retries + 1,
          detail: code ? `closed (${code})` : undefined,
        });
      },
      ping: (received) => {
        if (received) return;
        // our ping went out: no pong in time means a dead peer; closing makes the client retry
        clearTimeout(pongTimer);
        pongTimer = setTimeout(() => {
          if (socket?.readyState === WebSocket.OPEN) socket.close(4408, 'Pong timeout');
        }, PONG_WITHIN_MS);
      },
      pong: (received) => {
        if (received) clearTimeout(pongTimer);
      },
    },
  });

  return {
    subscribe<T>(query: string, variables: Record<string, unknown>, handlers: SubscriptionHandlers<T>) {
      return client.subscribe<T>(
        { query, variables },
        {
          next: (message) => {
            if (message.errors?.length)
              handlers.error?.(ApiError.from(message.errors as GraphQLErrorShape[]));
            else if (message.data) handlers.next(message.data);
          },
          error: (error) => handlers.error?.(toApiError(error)),
          complete: () => handlers.complete?.(),
        },
      );
    },
    onState(listener) {
      stateListeners.add(listener);
      listener(state);
      return () => stateListeners.delete(listener);
    },
    onConnected(listener) {
      connectedListeners.add(listener);
      return () => connectedListeners.delete(listener);
    },
    dispose() {
      disposed = true;
      clearTimeout(pongTimer);
      stateListeners.clear();
      connectedListeners.clear();
      void client.dispose();
    },
  };
}

function closeCode(event: unknown): number | undefined {
  if (event && typeof event === 'object' && 'code' in event && typeof event.code === 'number')
    return event.code;
  return undefined;
}

function toApiError(error: unknown): ApiError {
  if (Array.isArray(error)) return ApiError.from(error as GraphQLErrorShape[]);
  const code = closeCode(error);
  if (code !== undefined) {
    const reason = (error as { reason?: string }).reason;
    return new ApiError(
      reason || `The live connection closed (${code})`,
      REFUSED.has(code) ? 'UNAUTHENTICATED' : 'NETWORK',
    );
  }
  return new ApiError(error instanceof Error ? error.message : 'Live connection error', 'NETWORK');
}

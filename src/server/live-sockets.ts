import type { WebSocket } from 'ws';
import { ALL_PROJECTS, type EventBus } from '../modules/events/event-bus';
import type { AuthService } from '../modules/projects/auth.service';
import type { Logger } from '../shared/logger';

/** The close code a socket gets when its key is revoked (graphql-ws's "Forbidden"). */
export const REVOKED_CLOSE_CODE = 4403;
const CHECK_EVERY_MS = 1_000;

/**
 * The open WebSockets of each API key, so that revoking a key reaches connections made before
 * the revoke: a `keyRevoked` event (from any instance, through the bus) closes them at once, and
 * a check every second of the keys with open sockets (one query) closes those of a key revoked in a
 * way the event missed.
 */
export class LiveSockets {
  private readonly byKey = new Map<string, Set<WebSocket>>();

  track(keyId: string, socket: WebSocket): void {
    let sockets = this.byKey.get(keyId);
    if (!sockets) this.byKey.set(keyId, (sockets = new Set()));
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0 && this.byKey.get(keyId) === sockets) this.byKey.delete(keyId);
    });
  }

  /** Closes every socket of a revoked key with 4403. */
  closeKey(keyId: string): number {
    const sockets = this.byKey.get(keyId);
    if (!sockets) return 0;
    this.byKey.delete(keyId);
    for (const socket of sockets) socket.close(REVOKED_CLOSE_CODE, 'Forbidden: the API key was revoked');
    return sockets.size;
  }

  /** Listens for revocations and checks the open keys every second; returns the stop function. */
  watch(auth: AuthService, bus: EventBus, log: Logger): () => void {
    const events = bus.subscribe('keyRevoked', ALL_PROJECTS)[Symbol.asyncIterator]();
    const revoked = (keyId: string) => {
      auth.evict(keyId);
      const closed = this.closeKey(keyId);
      if (closed > 0) log.info({ keyId, sockets: closed }, 'closed the sockets of a revoked key');
    };
    void (async () => {
      for (let next = await events.next(); !next.done; next = await events.next()) revoked(next.value.keyId);
    })().catch((error: unknown) => log.warn({ err: error }, 'revocation listener stopped'));
    let checking = false;
    const timer = setInterval(() => {
      if (checking || this.byKey.size === 0) return;
      checking = true;
      auth
        .revokedAmong([...this.byKey.keys()])
        .then((ids) => ids.forEach(revoked))
        .catch((error: unknown) => log.warn({ err: error }, 'revoked-key check failed'))
        .finally(() => (checking = false));
    }, CHECK_EVERY_MS);
    timer.unref();
    return () => {
      clearInterval(timer);
      void events.return?.();
    };
  }
}

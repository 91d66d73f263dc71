import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * The address a request comes from, for throttling and logs: the socket's peer, unless that peer
 * is one of the operator's trusted reverse proxies (TOLLGATE_TRUSTED_PROXIES), in which case the
 * nearest address in X-Forwarded-For that is not itself a trusted proxy. With no trusted proxy,
 * X-Forwarded-For is ignored: any client could write it.
 */
export function clientAddressOf(trustedProxies: readonly string[]): (req: IncomingMessage) => string {
  if (trustedProxies.length === 0) return (req) => req.socket.remoteAddress ?? 'unknown';
  const trust = proxyaddr.compile([...trustedProxies]);
  return (req) => proxyaddr(req, trust);
}

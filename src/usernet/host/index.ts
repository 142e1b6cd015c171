// The host-socket seam: every host socket the flow translators use, passed in like the clock.
import type { TcpHost } from './tcp.js';
import { nativeTcpHost } from './native-tcp.js';

/** The pod kernel's sockets as the flow translators see them. */
export interface HostSockets {
  readonly tcp: TcpHost;
}

/** The real host: the pod's kernel through the native shim and node's sockets. */
export function nativeHost(): HostSockets {
  return { tcp: nativeTcpHost() };
}

// The host-socket seam: every host socket the flow translators use, passed in like the clock.
import type { TcpHost } from './tcp.js';
import type { UdpHost } from './udp.js';
import type { PingHost } from './ping.js';
import { nativeTcpHost } from './native-tcp.js';
import { nativeUdpHost } from './native-udp.js';
import { nativePingHost } from './native-ping.js';

/** The pod kernel's sockets as the flow translators see them. */
export interface HostSockets {
  readonly tcp: TcpHost;
  readonly udp: UdpHost;
  readonly ping: PingHost;
}

/** The real host: the pod's kernel through the native shim and node's sockets. */
export function nativeHost(): HostSockets {
  return { tcp: nativeTcpHost(), udp: nativeUdpHost(), ping: nativePingHost() };
}

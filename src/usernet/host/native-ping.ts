// The real PingHost: unprivileged ping sockets through the native shim (src/native).
import type { PingHost, PingSocket } from './ping.js';
import { openPingSocket } from '../../native/index.js';

/** The pod kernel's ping sockets through the native shim. */
export function nativePingHost(): PingHost {
  return {
    open({ family, ident, netns }): PingSocket {
      const s = openPingSocket({ family, ident, ...(netns !== undefined ? { netns } : {}) });
      return {
        ident: s.localPort,
        send: (addr, msg) => s.send(addr, 0, msg),
        onMessages: (cb) => s.onMessages(cb),
        readNow: () => s.readNow(),
        onError: (cb) => s.onError(cb),
        close: () => s.close(),
      };
    },
  };
}

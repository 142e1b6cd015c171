// The real UdpHost: the pod's UDP sockets through node:dgram.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { UdpHandlers, UdpHost, UdpSocket } from './udp.js';

const fromOf = (r: RemoteInfo) =>
  ({ address: r.address, port: r.port, family: r.family === 'IPv4' ? 4 : 6 }) as const;

function wrap(sock: Socket): UdpSocket {
  return {
    send(data, addr, port) {
      if (addr !== undefined && port !== undefined) sock.send(data, port, addr);
      else sock.send(data);
    },
    close() {
      try {
        sock.close();
      } catch {
        // already closed
      }
    },
  };
}

/** The pod kernel's UDP through node:dgram. */
export function nativeUdpHost(): UdpHost {
  return {
    connect(family, addr, port, h: UdpHandlers, connected) {
      const sock = createSocket({ type: family === 4 ? 'udp4' : 'udp6' });
      sock.on('error', (e: NodeJS.ErrnoException) =>
        h.error({ message: e.message, ...(e.code !== undefined ? { code: e.code } : {}) }),
      );
      // Connected: every datagram comes from the peer, so one `from` serves them all.
      const from = { address: addr, port, family } as const;
      sock.on('message', (msg) => h.message(msg, from));
      sock.connect(port, addr, connected);
      return wrap(sock);
    },
    bind(family, addr, port, h: UdpHandlers) {
      const sock = createSocket({ type: family === 4 ? 'udp4' : 'udp6', reuseAddr: false });
      sock.on('message', (msg, r) => h.message(msg, fromOf(r)));
      const bound = new Promise<void>((resolve, reject) => {
        const onErr = (e: Error) => reject(e);
        sock.once('error', onErr);
        sock.bind(port, addr, () => {
          sock.off('error', onErr);
          sock.on('error', (e: NodeJS.ErrnoException) =>
            h.error({ message: e.message, ...(e.code !== undefined ? { code: e.code } : {}) }),
          );
          resolve();
        });
      });
      return { sock: wrap(sock), bound };
    },
  };
}

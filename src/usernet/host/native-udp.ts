// The real UdpHost: the pod's UDP sockets through node:dgram.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AllPortsHandlers, AllPortsSocket, UdpHandlers, UdpHost, UdpSocket } from './udp.js';
import { fwdUdpOpen, fwdUdpRecv, fwdUdpSend } from '../../native/fwd.js';
import { Errno, errnoName, openTcpPoller, tcpClose, TcpWatch } from '../../native/tcp.js';

/** Datagrams read per readiness event of an all-ports socket before yielding. */
const ALL_PORTS_BATCH = 64;

/** An all-ports socket: the shim's pktinfo UDP socket, watched by its own epoll set. */
function bindAll(family: 4 | 6, port: number, h: AllPortsHandlers): AllPortsSocket {
  const sock = fwdUdpOpen(family, port);
  const poller = openTcpPoller();
  const buf = new Uint8Array(65536);
  let closed = false;
  poller.onError((e) => h.error({ message: e.message }));
  poller.onEvents(() => {
    for (let i = 0; i < ALL_PORTS_BATCH && !closed; i++) {
      const r = fwdUdpRecv(sock, buf);
      if (typeof r === 'number') {
        if (r !== Errno.EAGAIN)
          h.error({ code: errnoName(r), message: `recvmsg: ${errnoName(r)}` });
        return;
      }
      const from = { address: r.srcAddr, port: r.srcPort, family } as const;
      h.message(buf.slice(0, r.len), from, r.dstAddr);
    }
  });
  poller.watch(sock, 1, TcpWatch.In);
  return {
    sendFrom(data, addr, p, src) {
      const e = fwdUdpSend(sock, family, data, addr, p, src);
      if (e !== 0 && e !== Errno.EAGAIN) throw new Error(`sendmsg: ${errnoName(e)}`);
    },
    close() {
      if (closed) return;
      closed = true;
      poller.close();
      tcpClose(sock, false);
    },
  };
}

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
    bindAll,
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

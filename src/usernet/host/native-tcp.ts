// The real TcpHost: kernel sockets of the pod through the native shim (native/tcp.c).
import type { TcpHost, TcpPoller, TcpSock } from './tcp.js';
import {
  openTcpPoller,
  tcpAccept,
  tcpClose,
  tcpConnect,
  tcpConsume,
  tcpListen,
  tcpPeek,
  tcpSend,
  tcpShutdown,
  tcpSocket,
  tcpSocketError,
} from '../../native/tcp.js';

// The shim's sockets are fd numbers; the seam keeps them opaque.
const fdOf = (s: TcpSock): number => s as unknown as number;
const sockOf = (fd: number): TcpSock => fd as unknown as TcpSock;

/** The pod kernel's TCP through the native shim. */
export function nativeTcpHost(): TcpHost {
  return {
    socket: (family, mss = 0) => sockOf(tcpSocket(family, mss)),
    connect: (s, family, addr, port) => tcpConnect(fdOf(s), family, addr, port),
    listen(addr, port, backlog = 1024) {
      const [fd, bound] = tcpListen(addr, port, backlog);
      return [sockOf(fd), bound];
    },
    accept(l, mss = 0) {
      const a = tcpAccept(fdOf(l), mss);
      if (typeof a === 'number') return a;
      const { fd, ...rest } = a;
      return { sock: sockOf(fd), ...rest };
    },
    peek: (s, buf, iov, count, offset) => tcpPeek(fdOf(s), buf, iov, count, offset),
    consume: (s, n) => tcpConsume(fdOf(s), n),
    send: (s, bufs, count) => tcpSend(fdOf(s), bufs, count),
    shutdown: (s) => tcpShutdown(fdOf(s)),
    close: (s, reset) => tcpClose(fdOf(s), reset),
    socketError: (s) => tcpSocketError(fdOf(s)),
    poller(): TcpPoller {
      const p = openTcpPoller();
      return {
        watch: (s, id, mask) => p.watch(fdOf(s), id, mask),
        onEvents: (cb) => p.onEvents(cb),
        onError: (cb) => p.onError(cb),
        close: () => p.close(),
      };
    },
  };
}

// The real TcpHost: kernel sockets of the pod through the native shim (native/tcp.c).
import type { Accepted, TcpHost, TcpPoller, TcpSock } from './tcp.js';
import { fwdListen, fwdOriginalDst } from '../../native/fwd.js';
import {
  openTcpPoller,
  tcpAccept,
  tcpClose,
  tcpConnect,
  tcpConsume,
  tcpInfo,
  tcpListen,
  tcpPeek,
  tcpSend,
  tcpShutdown,
  tcpSocket,
  tcpSocketError,
  type TcpHandle,
} from '../../native/tcp.js';

// The shim's sockets are tagged handles (no fd number reaches JS); the seam keeps them opaque.
// A TcpSock is the handle itself: a closed one answers EBADF, one never closed is closed when
// collected.
const handleOf = (s: TcpSock): TcpHandle => s as unknown as TcpHandle;
const sockOf = (h: TcpHandle): TcpSock => h as unknown as TcpSock;

/** The pod kernel's TCP through the native shim. */
export function nativeTcpHost(): TcpHost {
  return {
    socket: (family, mss = 0) => sockOf(tcpSocket(family, mss)),
    connect: (s, family, addr, port) => tcpConnect(handleOf(s), family, addr, port),
    listen(addr, port, backlog = 1024) {
      const [h, bound] = tcpListen(addr, port, backlog);
      return [sockOf(h), bound];
    },
    // The shim's Accepted differs from the seam's only in the handle's (opaque) type.
    accept: (l, mss = 0) => tcpAccept(handleOf(l), mss) as Accepted | number,
    peek: (s, buf, iov, count, offset) => tcpPeek(handleOf(s), buf, iov, count, offset),
    consume: (s, n) => tcpConsume(handleOf(s), n),
    send: (s, bufs, count) => tcpSend(handleOf(s), bufs, count),
    shutdown: (s) => tcpShutdown(handleOf(s)),
    close: (s, reset) => tcpClose(handleOf(s), reset),
    socketError: (s) => tcpSocketError(handleOf(s)),
    // TCP_INFO's tcpi_rtt; 0 means "not measured yet".
    rttUs: (s) => {
      const r = tcpInfo(handleOf(s))?.rttUs;
      return r === undefined || r === 0 ? undefined : r;
    },
    listenFamily: (family, port, backlog = 1024) => sockOf(fwdListen(family, port, backlog)),
    originalDst: (s, family) => fwdOriginalDst(handleOf(s), family),
    poller(): TcpPoller {
      const p = openTcpPoller();
      return {
        watch: (s, id, mask) => p.watch(handleOf(s), id, mask),
        onEvents: (cb) => p.onEvents(cb),
        onError: (cb) => p.onError(cb),
        close: () => p.close(),
      };
    },
  };
}

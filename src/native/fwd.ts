// Typed wrapper of the shim's all-ports forwarding calls (native/fwd.c): redirected TCP, pktinfo UDP, the fd limit.
//
// The sockets are TcpHandles (tcp.ts): close them with tcpClose and watch them with a TcpPoller.
// Data-path calls return errno values instead of throwing; opening throws a SyscallError.
import { native, type TcpHandle } from './index.js';

/** A TCP listener of one family on the wildcard address (IPV6_V6ONLY on for 6). */
export function fwdListen(family: 4 | 6, port: number, backlog = 1024): TcpHandle {
  return native().fwdListen(family, port, backlog);
}

/** A UDP socket of one family on the wildcard address that reports each datagram's destination. */
export function fwdUdpOpen(family: 4 | 6, port: number): TcpHandle {
  return native().fwdUdpOpen(family, port);
}

/** An accepted connection's destination before the REDIRECT, or the errno (ENOENT: no NAT). */
export function fwdOriginalDst(
  s: TcpHandle,
  family: 4 | 6,
): { addr: string; port: number } | number {
  const r = native().fwdOriginalDst(s, family);
  return typeof r === 'number' ? r : { addr: r[0], port: r[1] };
}

/** One received datagram: its length in the buffer, its sender, the address it was sent to. */
export interface FwdDatagram {
  readonly len: number;
  readonly srcAddr: string;
  readonly srcPort: number;
  readonly dstAddr: string;
}

/** Reads one datagram into `buf` (non-blocking), or returns the errno (EAGAIN: none waiting). */
export function fwdUdpRecv(s: TcpHandle, buf: Uint8Array): FwdDatagram | number {
  const r = native().fwdUdpRecv(s, buf);
  if (typeof r === 'number') return r;
  return { len: r[0], srcAddr: r[1], srcPort: r[2], dstAddr: r[3] };
}

/** Sends one datagram to (addr, port) from `src` (pktinfo): 0 or the errno. */
export function fwdUdpSend(
  s: TcpHandle,
  family: 4 | 6,
  data: Uint8Array,
  addr: string,
  port: number,
  src: string,
): number {
  return native().fwdUdpSend(s, family, data, addr, port, src);
}

/** Raises the soft RLIMIT_NOFILE to the hard limit; returns both after (−1: unlimited). */
export function raiseNofile(): { soft: number; hard: number } {
  const [soft, hard] = native().fwdRaiseNofile();
  return { soft, hard };
}

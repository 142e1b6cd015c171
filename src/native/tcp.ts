// Typed wrapper of the shim's TCP sockets (native/tcp.c) and of its epoll set for them: the translator's host side.
//
// Sockets are TcpHandles (tagged externals; no fd number reaches JS) that the caller owns and must
// close (tcpClose); a closed handle answers EBADF, and one dropped unclosed is closed when
// collected. Calls on the data path return errno values instead of throwing (negative for byte
// counts): EAGAIN and ECONNRESET are ordinary outcomes there. Only creating and listening throw a
// SyscallError; passing something that is not a TcpHandle throws a TypeError.
import { Endpoint, native, type SyscallError, type TcpHandle } from './index.js';

export type { TcpHandle } from './index.js';

export { Errno, errnoName, TcpEvent, TcpWatch } from './tcp-constants.js';

/** An epoll set of TCP sockets served on the event loop: one callback per loop turn. */
export interface TcpPoller {
  /**
   * Sets what to report about socket `s` (TcpWatch bits; 0 stops watching it), under `id`.
   *
   * @returns 0 or the errno (EBADF for a closed socket, else epoll_ctl's).
   */
  watch(s: TcpHandle, id: number, mask: number): number;
  /** Sets the receiver of ready lists (`count` pairs of id and TcpEvent bits) and starts. */
  onEvents(cb: (events: Uint32Array, count: number) => void): void;
  /** Sets the receiver of asynchronous errors of the set itself (default: a warning). */
  onError(cb: (e: SyscallError) => void): void;
  /** Stops polling and closes the set (the sockets stay open). Idempotent. */
  close(): void;
}

class Poller extends Endpoint implements TcpPoller {
  watch(s: TcpHandle, id: number, mask: number): number {
    return native().pollerWatch(this.handle, s, id, mask);
  }

  onEvents(cb: (events: Uint32Array, count: number) => void): void {
    this.start((batch, count) => cb(new Uint32Array(batch, 0, count * 2), count));
  }
}

/** Opens an epoll set for TCP sockets. */
export function openTcpPoller(): TcpPoller {
  return new Poller(native().pollerOpen());
}

/** A connection taken from a listening socket. */
export interface Accepted {
  readonly sock: TcpHandle;
  /** The peer's address (IPv4-mapped addresses shown as IPv4) and port. */
  readonly peerAddr: string;
  readonly peerPort: number;
  readonly localAddr: string;
  readonly localPort: number;
}

/**
 * A non-blocking stream socket with TCP_NODELAY, SO_KEEPALIVE (30 s idle) and peeking at an
 * offset (SO_PEEK_OFF) enabled.
 *
 * @param mss - TCP_MAXSEG to set (0: the kernel's choice).
 * @throws SyscallError (e.g. EMFILE).
 */
export function tcpSocket(family: 4 | 6, mss = 0): TcpHandle {
  return native().tcpSocket(family, mss);
}

/** Starts connecting: 0 (connected), Errno.EINPROGRESS (watch for Out) or the failure's errno. */
export function tcpConnect(s: TcpHandle, family: 4 | 6, addr: string, port: number): number {
  return native().tcpConnect(s, family, addr, port);
}

/**
 * A non-blocking listening socket on (addr, port); '::' takes IPv4 too.
 *
 * @returns the socket and the bound port.
 * @throws SyscallError (EADDRINUSE, EACCES, …), its message naming the address.
 */
export function tcpListen(addr: string, port: number, backlog = 1024): [TcpHandle, number] {
  return native().tcpListen(addr, port, backlog);
}

/** Takes one waiting connection (tuned like tcpSocket), or returns the errno (EAGAIN: none). */
export function tcpAccept(s: TcpHandle, mss = 0): Accepted | number {
  const r = native().tcpAccept(s, mss);
  if (typeof r === 'number') return r;
  return { sock: r[0], peerAddr: r[1], peerPort: r[2], localAddr: r[3], localPort: r[4] };
}

/**
 * Copies queued bytes without removing them into `count` regions of `buf` (`iov`: pairs of start
 * and length) in one recvmsg(MSG_PEEK).
 *
 * @param offset - ≥ 0: first move the peek offset to this many bytes past the head of the queue;
 *   −1: keep it (each peek advances it by what it returned; tcpConsume moves it back).
 * @returns bytes copied, 0 at the end of the stream, or −errno (−EAGAIN: nothing new).
 */
export function tcpPeek(
  s: TcpHandle,
  buf: Uint8Array,
  iov: Uint32Array,
  count: number,
  offset: number,
): number {
  return native().tcpPeek(s, buf, iov, count, offset);
}

/** Drops up to n bytes from the head of the receive queue, uncopied: the count, or −errno. */
export function tcpConsume(s: TcpHandle, n: number): number {
  return native().tcpConsume(s, n);
}

/** Writes bufs[0..count) in order, non-blocking: bytes written (maybe fewer), or −errno. */
export function tcpSend(s: TcpHandle, bufs: readonly Uint8Array[], count = bufs.length): number {
  return native().tcpSend(s, bufs, count);
}

/** Ends the write side (shutdown SHUT_WR): 0 or the errno. */
export function tcpShutdown(s: TcpHandle): number {
  return native().tcpShutdown(s);
}

/** Closes the socket; `reset` sends the peer an RST at once (SO_LINGER 0). Idempotent. */
export function tcpClose(s: TcpHandle, reset: boolean): void {
  native().tcpClose(s, reset);
}

/** The pending socket error (SO_ERROR), cleared by reading: 0 if none. */
export function tcpSocketError(s: TcpHandle): number {
  return native().tcpSocketError(s);
}

/** A socket's queues and its view of the peer (tcpInfo). */
export interface TcpInfo {
  /** Bytes in the send queue, sent or not (SIOCOUTQ), and not yet sent (SIOCOUTQNSD). */
  readonly sendQueue: number;
  readonly unsent: number;
  /** Bytes readable (SIOCINQ). */
  readonly readable: number;
  readonly sndbuf: number;
  /** Smoothed RTT in µs, the peer's receive window in bytes, the kernel's TCP state number. */
  readonly rttUs: number;
  readonly peerWindow: number;
  readonly state: number;
}

const infoBuf = new Uint32Array(7);

/** Reads the socket's queue sizes and TCP_INFO; undefined if it is closed. */
export function tcpInfo(s: TcpHandle): TcpInfo | undefined {
  if (native().tcpInfo(s, infoBuf) !== 0) return undefined;
  const [sendQueue, readable, sndbuf, rttUs, peerWindow, state, unsent] = infoBuf;
  return {
    sendQueue: sendQueue!,
    readable: readable!,
    sndbuf: sndbuf!,
    rttUs: rttUs!,
    peerWindow: peerWindow!,
    state: state!,
    unsent: unsent!,
  };
}

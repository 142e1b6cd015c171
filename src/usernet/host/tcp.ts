// The TCP half of the host-socket seam: what the TCP translator may ask of the pod's kernel.
//
// The translator never calls the native shim directly: it gets a TcpHost in its deps, like the
// clock. `native-tcp.ts` is the real one (non-blocking kernel sockets behind one epoll set);
// `memory-tcp.ts` is a deterministic in-memory kernel for unit tests. Data-path calls return
// errno values instead of throwing (negative for byte counts): EAGAIN and ECONNRESET are
// ordinary outcomes there. Creating and listening throw.

/** An open host socket. Opaque: only the TcpHost that made it knows what is inside. */
export interface TcpSock {
  readonly __tcpSock: never;
}

// The shim's numbers: a TcpHost other than the native one speaks them too.
export { Errno, errnoName, TcpEvent, TcpWatch } from '../../native/tcp-constants.js';

/** A readiness set of host sockets: one callback per event-loop turn with what became ready. */
export interface TcpPoller {
  /**
   * Sets what to report about `sock` (TcpWatch bits; 0 stops watching it), under `id`.
   *
   * @returns 0 or the errno (e.g. EBADF for a closed socket).
   */
  watch(sock: TcpSock, id: number, mask: number): number;
  /** Sets the receiver of ready lists (`count` pairs of id and TcpEvent bits) and starts. */
  onEvents(cb: (events: Uint32Array, count: number) => void): void;
  /** Sets the receiver of asynchronous errors of the set itself. */
  onError(cb: (e: Error) => void): void;
  /** Stops polling (the sockets stay open). Idempotent. */
  close(): void;
}

/** A connection taken from a listening socket. */
export interface Accepted {
  readonly sock: TcpSock;
  /** The peer's address (IPv4-mapped addresses shown as IPv4) and port. */
  readonly peerAddr: string;
  readonly peerPort: number;
  readonly localAddr: string;
  readonly localPort: number;
}

/** The pod kernel's TCP, as the translator uses it. */
export interface TcpHost {
  /**
   * A non-blocking stream socket with TCP_NODELAY, keepalive and peeking at an offset enabled.
   *
   * @param mss - TCP_MAXSEG to set (0: the kernel's choice).
   * @throws Error (e.g. EMFILE).
   */
  socket(family: 4 | 6, mss?: number): TcpSock;
  /** Starts connecting: 0 (connected), Errno.EINPROGRESS (watch for Out) or the failure's errno. */
  connect(sock: TcpSock, family: 4 | 6, addr: string, port: number): number;
  /**
   * A non-blocking listening socket on (addr, port); '::' takes IPv4 too.
   *
   * @returns the socket and the bound port.
   * @throws Error (EADDRINUSE, EACCES, …), its message naming the address.
   */
  listen(addr: string, port: number, backlog?: number): [TcpSock, number];
  /** Takes one waiting connection (tuned like socket()), or returns the errno (EAGAIN: none). */
  accept(listener: TcpSock, mss?: number): Accepted | number;
  /**
   * Copies queued bytes without removing them into `count` regions of `buf` (`iov`: pairs of
   * start and length).
   *
   * @param offset - ≥ 0: first move the peek offset to this many bytes past the head of the
   *   queue; −1: keep it (each peek advances it by what it returned; consume moves it back).
   * @returns bytes copied, 0 at the end of the stream, or −errno (−EAGAIN: nothing new).
   */
  peek(sock: TcpSock, buf: Uint8Array, iov: Uint32Array, count: number, offset: number): number;
  /** Drops up to n bytes from the head of the receive queue, uncopied: the count, or −errno. */
  consume(sock: TcpSock, n: number): number;
  /** Writes bufs[0..count) in order, non-blocking: bytes written (maybe fewer), or −errno. */
  send(sock: TcpSock, bufs: readonly Uint8Array[], count?: number): number;
  /** Ends the write side (shutdown SHUT_WR): 0 or the errno. */
  shutdown(sock: TcpSock): number;
  /** Closes the socket (and stops watching it); `reset` sends the peer an RST (SO_LINGER 0). */
  close(sock: TcpSock, reset: boolean): void;
  /** The pending socket error (SO_ERROR), cleared by reading: 0 if none. */
  socketError(sock: TcpSock): number;
  /** The kernel's smoothed RTT of the connection (TCP_INFO) in µs; undefined when unknown. */
  rttUs?(sock: TcpSock): number | undefined;
  /** A new readiness set for this host's sockets. */
  poller(): TcpPoller;
  /**
   * All-ports forwarding (optional): a listener of one family on the wildcard address that the
   * pod's REDIRECT rule sends every forwarded port to (IPV6_V6ONLY, so both families share the
   * port).
   *
   * @throws Error (EADDRINUSE, …)
   */
  listenFamily?(family: 4 | 6, port: number, backlog?: number): TcpSock;
  /** The destination a redirected connection asked for (SO_ORIGINAL_DST), or the errno. */
  originalDst?(sock: TcpSock, family: 4 | 6): { addr: string; port: number } | number;
}

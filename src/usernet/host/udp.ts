// The UDP half of the host-socket seam: what the UDP translator may ask of the pod's kernel.
//
// The translator never creates `node:dgram` sockets itself: it gets a UdpHost in its deps, like
// the clock. `native-udp.ts` is the real one (node:dgram); `memory-udp.ts` is a deterministic
// in-memory kernel for unit tests. Everything a socket reports (datagrams, asynchronous errors,
// a finished connect or bind) arrives later through the callbacks given when it was made, never
// during the call that made it.

/** Where a datagram came from, as the socket reports it. */
export interface UdpFrom {
  /** The sender's address; on an IPv6 socket IPv4 senders appear as '::ffff:a.b.c.d'. */
  readonly address: string;
  readonly port: number;
  /** The family of the address as reported (4, or 6 also for IPv4-mapped addresses). */
  readonly family: 4 | 6;
}

/** An asynchronous socket error, e.g. ECONNREFUSED after an ICMP port unreachable. */
export interface UdpError {
  /** The symbolic errno ('ECONNREFUSED', …), if known. */
  readonly code?: string;
  readonly message: string;
}

/** What a socket reports, set when it is made. */
export interface UdpHandlers {
  /**
   * A datagram arrived. `data` is valid only during the call (a host may read the next batch
   * into the same memory): copy what must be kept.
   */
  message(data: Uint8Array, from: UdpFrom): void;
  /** An error reported after the socket was made (connected) or bound. */
  error(e: UdpError): void;
  /**
   * The datagrams reported since the last call came from one read of the socket (a batch): the
   * moment to pass on what they produced. Hosts that read one datagram at a time may not call it.
   */
  batchEnd?(): void;
  /** Datagrams handed to `send` that the kernel did not take (its buffer was full): drops. */
  dropped?(count: number): void;
}

/** An open UDP socket of the pod. */
export interface UdpSocket {
  /**
   * Sends one datagram: to the connected peer, or to (addr, port) on a bound socket. The socket
   * may keep a reference to `data` until the kernel took it (copy transient buffers first).
   *
   * @throws Error when the send fails at once (e.g. the socket is closed).
   */
  send(data: Uint8Array, addr?: string, port?: number): void;
  /**
   * `send` hands every datagram to the kernel before the microtasks queued during the call have
   * run (batched sends): a buffer valid until then (a transient guest frame) need not be copied.
   */
  readonly sendsWithinTurn?: boolean;
  /** Closes the socket; nothing is reported after. Idempotent. */
  close(): void;
}

/** What an all-ports socket reports: each datagram with the address it was sent to. */
export interface AllPortsHandlers {
  /** A datagram arrived for `to` (after the pod rule's DNAT; `data` may be kept). */
  message(data: Uint8Array, from: UdpFrom, to: string): void;
  error(e: UdpError): void;
}

/** A socket of one family that every forwarded UDP port reaches through the pod's DNAT rule. */
export interface AllPortsSocket {
  /** Sends one datagram to (addr, port) from `src` (the address a datagram came `to`). */
  sendFrom(data: Uint8Array, addr: string, port: number, src: string): void;
  /** Closes the socket; nothing is reported after. Idempotent. */
  close(): void;
}

/** The pod kernel's UDP, as the translator uses it. */
export interface UdpHost {
  /**
   * A socket of `family` connected to (addr, port) on an ephemeral local port. `connected` runs
   * once the connect finished (sends before that are the caller's to hold back); errors after it
   * (ECONNREFUSED when the peer's port is closed) go to `h.error`.
   */
  connect(
    family: 4 | 6,
    addr: string,
    port: number,
    h: UdpHandlers,
    connected: () => void,
  ): UdpSocket;
  /**
   * A socket bound to (addr, port) ('::' takes IPv4 too). `bound` settles when the bind
   * finished: it rejects with the bind error (EADDRINUSE, EACCES, …; then `h.error` is not
   * called for it). The socket is returned at once so that it can be closed while binding.
   */
  bind(
    family: 4 | 6,
    addr: string,
    port: number,
    h: UdpHandlers,
  ): { readonly sock: UdpSocket; readonly bound: Promise<void> };
  /**
   * All-ports forwarding (optional): a socket of `family` on the wildcard address and `port`
   * that reports where each datagram was sent (pktinfo) and answers from that address.
   *
   * @throws Error (EADDRINUSE, …)
   */
  bindAll?(family: 4 | 6, port: number, h: AllPortsHandlers): AllPortsSocket;
}

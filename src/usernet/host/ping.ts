// The ICMP echo half of the host-socket seam: unprivileged "ping" sockets as the ping translator uses them.
//
// `native-ping.ts` is the real one (src/native's ping sockets, optionally in another network
// namespace); `memory-ping.ts` is a deterministic in-memory kernel for unit tests. Replies arrive
// through onMessages, never during the call that sent the request: on a later wake-up, or during
// a later readNow.

/** One message read from a ping socket. */
export interface PingMessage {
  /** The ICMP header and data (no IP header); the kernel has put our identifier in. */
  readonly data: Uint8Array;
  /** The sender's address. */
  readonly addr: string;
}

/** An open ping socket. */
export interface PingSocket {
  /** The echo identifier the kernel writes into this socket's requests. */
  readonly ident: number;
  /**
   * Sends one ICMP echo message (type, code, sequence and data; the kernel sets the identifier
   * and checksum) to `addr`. `msg` is read during the call only (the caller may reuse it).
   *
   * @returns false when the socket buffer was full and the message was dropped.
   * @throws Error with a symbolic `errno` (ENETUNREACH, …) on other failures.
   */
  send(addr: string, msg: Uint8Array): boolean;
  /** Sets the receiver of message batches and starts reading. */
  onMessages(cb: (msgs: readonly PingMessage[]) => void): void;
  /**
   * Hands the replies already queued to onMessages before returning (none: nothing happens).
   * A reply from a local address is usually queued as soon as send returned, so reading it in
   * the same turn saves a wake-up of the loop.
   */
  readNow(): void;
  /** Sets the receiver of asynchronous errors. */
  onError(cb: (e: Error) => void): void;
  /** Stops reading and closes the socket. Idempotent. */
  close(): void;
}

/** How a ping socket is opened. */
export interface PingOpen {
  readonly family: 4 | 6;
  /** The echo identifier to bind (0: the kernel picks a free one). */
  readonly ident: number;
  /** A network namespace (name or path) to open the socket in; default: the host's own. */
  readonly netns?: string;
}

/** The pod kernel's ping sockets. */
export interface PingHost {
  /**
   * Opens a ping socket of `o.family` bound to identifier `o.ident`.
   *
   * @throws Error with a symbolic `errno` property: EACCES (our group is outside
   *   net.ipv4.ping_group_range), EADDRINUSE (the identifier is taken), EMFILE, …
   */
  open(o: PingOpen): PingSocket;
}

// The QEMU `-netdev stream` guest link, server side (as passt): a unix socket carrying length-prefixed Ethernet frames.
//
// Theory of operation
// ===================
//
// Framing. QEMU's stream netdev (and passt, and gvisor-tap-vsock's "qemu" protocol) carries
// Ethernet frames over an AF_UNIX SOCK_STREAM socket, each preceded by its length as a 4-byte
// big-endian integer (the frame without the prefix, no FCS). There is no handshake, no vnet
// header, nothing else (facts-passt.md §2.1; `qemu:net/stream_data.c`, `passt:tap.c`).
//
//     +--------+--------+--------+--------+---------------- ... ----+
//     |        length (u32, big endian)   | Ethernet frame (length) |
//     +--------+--------+--------+--------+---------------- ... ----+
//
// Limits. A length below 14 (ETH_HLEN) or above 65535 (passt's L2_MAX_LEN_PASST = USHRT_MAX)
// cannot be a frame: the byte stream has lost its framing, so the connection is reset and the
// reset counted (as passt does). The length is checked before any buffer is allocated.
// Frames sent to the guest are padded with zeros to 60 bytes, the 802.3 minimum (passt commits
// 1e51971, 68b0a36).
//
// Reassembly. `StreamReassembler` is the pure framing logic (no I/O). Frames that lie whole
// inside one read are handed out as views of that read's buffer (no copy); only a frame that
// spans reads is copied, into a buffer of exactly its length. All frames completed by one read
// are delivered in one batch.
//
// Sending. Each frame is written as [length, frame, zero padding] under cork(), so a batch
// leaves in one writev without concatenating payloads. `send` returns false when the socket's
// buffer is above its high-water mark; the link emits `drain` when it empties.
//
// States.
//
//     listening --accept--> connected --client leaves / reset--> listening (or closed if oneOff)
//         |                     |
//         +------close()--------+-----------------------------> closed
//
// One client at a time: while a client is connected, further connections are accepted and
// closed at once (counted as `refusedClients`), the first one is undisturbed. With `oneOff`
// the server closes when its first client leaves (passt's `--one-off`).
//
// Socket path. A stale socket file (nothing accepting on it) is unlinked before listening;
// if something accepts on it, or the path is not a socket, listening fails with a
// BinderyError (ErrorCode.Link). passt does the same in `sock_unix()`.
import { EventEmitter } from 'node:events';
import { lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, Socket } from 'node:net';
import type { Server } from 'node:net';
import { BinderyError, ErrorCode } from '../../errors.js';
import type { GuestLink } from './types.js';

/** Shortest length prefix accepted: an Ethernet header (ETH_HLEN). */
export const STREAM_MIN_FRAME_BYTES = 14;
/** Longest length prefix accepted (passt's L2_MAX_LEN_PASST = USHRT_MAX). */
export const STREAM_MAX_FRAME_BYTES = 65535;
/** Frames to the guest are padded with zeros to this length (802.3 minimum without FCS). */
export const STREAM_PAD_TO_BYTES = 60;
/** Bytes of the length prefix. */
export const STREAM_HEADER_BYTES = 4;

const ZEROS = new Uint8Array(STREAM_PAD_TO_BYTES);

/** What one `push` produced. */
export interface ReassemblyResult {
  /** Frames completed by this chunk, in order (views of the chunk where whole inside it). */
  readonly frames: Uint8Array[];
  /**
   * The offending length prefix when the stream lost its framing; undefined otherwise.
   * Once set, the reassembler ignores input until `reset()`.
   */
  readonly badLength: number | undefined;
}

/**
 * Splits a byte stream of u32-BE-length-prefixed frames back into frames. Pure: no I/O,
 * no timers; one instance per connection.
 */
export class StreamReassembler {
  /** The length prefix when it spans chunks. */
  private readonly header = new Uint8Array(STREAM_HEADER_BYTES);
  private headerHave = 0;
  /** The frame being filled when it spans chunks. */
  private pending: Uint8Array | undefined;
  private pendingHave = 0;
  private failed = false;

  /**
   * @param maxFrameBytes - Longest frame accepted (default 65535); longer lengths fail the stream.
   * @param minFrameBytes - Shortest frame accepted (default 14); shorter lengths fail the stream.
   */
  constructor(
    readonly maxFrameBytes: number = STREAM_MAX_FRAME_BYTES,
    readonly minFrameBytes: number = STREAM_MIN_FRAME_BYTES,
  ) {}

  /** Bytes held back waiting for the rest of a frame (prefix bytes included). */
  get bufferedBytes(): number {
    return (
      this.headerHave + (this.pending === undefined ? 0 : STREAM_HEADER_BYTES + this.pendingHave)
    );
  }

  /** True after a bad length, until `reset()`. */
  get isFailed(): boolean {
    return this.failed;
  }

  /** Forgets any partial frame and a previous failure (a new connection). */
  reset(): void {
    this.headerHave = 0;
    this.pending = undefined;
    this.pendingHave = 0;
    this.failed = false;
  }

  /**
   * Consumes one chunk of the stream. Never throws.
   *
   * @param chunk - The next bytes read. Frames that lie whole inside it are returned as views of
   *   it, so the caller must not reuse `chunk` while the frames are in use.
   * @returns The frames this chunk completed, and the bad length if the framing broke.
   */
  push(chunk: Uint8Array): ReassemblyResult {
    const frames: Uint8Array[] = [];
    if (this.failed) return { frames, badLength: undefined };
    const end = chunk.length;
    let off = 0;
    while (off < end) {
      const pending = this.pending;
      if (pending !== undefined) {
        const n = Math.min(pending.length - this.pendingHave, end - off);
        pending.set(chunk.subarray(off, off + n), this.pendingHave);
        this.pendingHave += n;
        off += n;
        if (this.pendingHave === pending.length) {
          frames.push(pending);
          this.pending = undefined;
          this.pendingHave = 0;
        }
        continue;
      }
      let len: number;
      if (this.headerHave === 0 && end - off >= STREAM_HEADER_BYTES) {
        len = readU32(chunk, off);
        off += STREAM_HEADER_BYTES;
      } else {
        const n = Math.min(STREAM_HEADER_BYTES - this.headerHave, end - off);
        this.header.set(chunk.subarray(off, off + n), this.headerHave);
        this.headerHave += n;
        off += n;
        if (this.headerHave < STREAM_HEADER_BYTES) break;
        this.headerHave = 0;
        len = readU32(this.header, 0);
      }
      if (len < this.minFrameBytes || len > this.maxFrameBytes) {
        this.failed = true;
        return { frames, badLength: len };
      }
      if (end - off >= len) {
        frames.push(chunk.subarray(off, off + len));
        off += len;
      } else {
        // The only copy: a frame that spans chunks. Every byte is written before it is handed out.
        const buf = Buffer.allocUnsafe(len);
        buf.set(chunk.subarray(off, end), 0);
        this.pending = buf;
        this.pendingHave = end - off;
        off = end;
      }
    }
    return { frames, badLength: undefined };
  }
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/**
 * Encodes frames as the stream carries them, padded to 60 bytes: the pieces to write in order
 * (prefix, frame, padding), with no payload copied.
 *
 * @param frames - Ethernet frames without FCS.
 * @returns The buffers to write back to back.
 */
export function encodeStreamFrames(frames: readonly Uint8Array[]): Uint8Array[] {
  const headers = Buffer.allocUnsafe(STREAM_HEADER_BYTES * frames.length);
  const out: Uint8Array[] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    const padded = Math.max(f.length, STREAM_PAD_TO_BYTES);
    headers.writeUInt32BE(padded, i * STREAM_HEADER_BYTES);
    out.push(headers.subarray(i * STREAM_HEADER_BYTES, (i + 1) * STREAM_HEADER_BYTES), f);
    if (padded > f.length) out.push(ZEROS.subarray(0, padded - f.length));
  }
  return out;
}

/** Why a client's connection ended. */
export type StreamDisconnectReason =
  /** The guest side closed the connection. */
  | 'eof'
  /** A socket error (ECONNRESET, EPIPE, …). */
  | 'error'
  /** A length prefix out of [14, 65535]: the connection was reset by us. */
  | 'bad-length'
  /** `disconnect()` or `close()` was called. */
  | 'local';

/** Events of a StreamLink. */
export interface StreamLinkEvents {
  /** A client (the guest's QEMU) was accepted. */
  connect: [];
  /** The client's connection ended; `reason` says why. */
  disconnect: [reason: StreamDisconnectReason];
  /** Frames from the guest: all the frames one read completed. */
  frames: [frames: Uint8Array[]];
  /** The socket's send buffer emptied after `send` returned false. */
  drain: [];
  /** The server closed (by `close()`, or with `oneOff` after its client left). */
  close: [];
}

/** Counters of a StreamLink; monotonic over its lifetime. */
export interface StreamLinkCounters {
  /** Frames received from the guest. */
  rxFrames: number;
  /** Bytes of frames received from the guest (prefixes excluded). */
  rxBytes: number;
  /** Frames written to the guest. */
  txFrames: number;
  /** Bytes of frames written to the guest (padding included, prefixes excluded). */
  txBytes: number;
  /** Frames not sent: no client connected, or longer than 65535 bytes. */
  txDropped: number;
  /** Connections reset because of a length prefix out of [14, 65535]. */
  badLength: number;
  /** Clients accepted and served. */
  clients: number;
  /** Connections refused (accepted and closed at once) because a client was already there. */
  refusedClients: number;
}

/** Options of `StreamLink.listen`. */
export interface StreamLinkOptions {
  /** Path of the unix socket to listen on; a stale socket there is unlinked. */
  readonly path: string;
  /** Close the server when the first client leaves (passt `--one-off`). Default false. */
  readonly oneOff?: boolean;
  /** Longest frame accepted from the guest; default 65535 (also the hard upper limit). */
  readonly maxFrameBytes?: number;
}

/** State of a StreamLink (see the state diagram at the top of this file). */
export type StreamLinkState = 'listening' | 'connected' | 'closed';

/**
 * The server end of QEMU's `-netdev stream` (what passt offers with `--socket`).
 *
 * @example
 * const link = await StreamLink.listen({ path: '/run/bindery/vm0.socket', oneOff: true });
 * link.on('frames', (frames) => frames.forEach(handleGuestFrame));
 * link.send([reply]);
 */
export class StreamLink extends EventEmitter<StreamLinkEvents> implements GuestLink {
  readonly kind = 'stream' as const;
  /** Counters; read them at any time. */
  readonly counters: StreamLinkCounters = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    txDropped: 0,
    badLength: 0,
    clients: 0,
    refusedClients: 0,
  };
  private client: Socket | undefined;
  private clientEndReason: StreamDisconnectReason | undefined;
  private readonly reassembler: StreamReassembler;
  private closing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    /** Undefined for a link adopted from a connected fd (--fd): nothing to listen on. */
    private readonly server: Server | undefined,
    /** The socket path this link listens on. */
    readonly path: string,
    private readonly oneOff: boolean,
    maxFrameBytes: number,
  ) {
    super();
    this.reassembler = new StreamReassembler(maxFrameBytes);
    server?.on('connection', (sock) => this.onConnection(sock));
  }

  /**
   * Serves a guest on an already connected stream socket (passt's `-F/--fd`, e.g. one end of a
   * socketpair() that QEMU >= 10.1 made). One-off by nature: the link closes when the guest
   * goes away.
   *
   * @param fd - A connected AF_UNIX SOCK_STREAM descriptor this process owns.
   * @returns The link, connected.
   */
  static adopt(fd: number): StreamLink {
    const link = new StreamLink(undefined, `fd ${fd}`, true, STREAM_MAX_FRAME_BYTES);
    link.onConnection(new Socket({ fd, readable: true, writable: true }));
    return link;
  }

  /**
   * Listens on a unix socket path for the guest's QEMU.
   *
   * @param opts - Path, one-off mode and frame limit.
   * @returns The link, listening.
   * @throws BinderyError (ErrorCode.Link) when the path is in use by a live socket, is not a
   *   socket, or cannot be bound.
   */
  static async listen(opts: StreamLinkOptions): Promise<StreamLink> {
    const max = opts.maxFrameBytes ?? STREAM_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < STREAM_MIN_FRAME_BYTES || max > STREAM_MAX_FRAME_BYTES) {
      throw new BinderyError(
        ErrorCode.Link,
        `maxFrameBytes must be an integer in [${STREAM_MIN_FRAME_BYTES}, ${STREAM_MAX_FRAME_BYTES}], got ${max}`,
      );
    }
    await clearStaleSocket(opts.path);
    const server = createServer({ allowHalfOpen: false, pauseOnConnect: false });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new BinderyError(ErrorCode.Link, `cannot listen on ${opts.path}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      server.once('error', onError);
      server.listen({ path: opts.path, backlog: 1 }, () => {
        server.off('error', onError);
        resolve();
      });
    });
    return new StreamLink(server, opts.path, opts.oneOff ?? false, max);
  }

  /** Where the link is in its life (see the theory of operation). */
  get state(): StreamLinkState {
    if (this.closed) return 'closed';
    return this.client === undefined ? 'listening' : 'connected';
  }

  /**
   * Sends frames to the guest, each padded to 60 bytes, in one writev.
   *
   * @param frames - Ethernet frames without FCS; they belong to the link until written.
   * @returns false when no client is connected (frames dropped and counted) or the socket's
   *   buffer is full (frames queued; wait for `drain`); true otherwise.
   */
  send(frames: readonly Uint8Array[]): boolean {
    const sock = this.client;
    if (sock === undefined || !sock.writable) {
      this.counters.txDropped += frames.length;
      return false;
    }
    let ok = frames;
    if (frames.some((f) => f.length > STREAM_MAX_FRAME_BYTES)) {
      ok = frames.filter((f) => f.length <= STREAM_MAX_FRAME_BYTES);
      this.counters.txDropped += frames.length - ok.length;
    }
    if (ok.length === 0) return !sock.writableNeedDrain;
    const pieces = encodeStreamFrames(ok);
    sock.cork();
    for (const p of pieces) sock.write(p);
    sock.uncork();
    this.counters.txFrames += ok.length;
    for (const f of ok) this.counters.txBytes += Math.max(f.length, STREAM_PAD_TO_BYTES);
    return !sock.writableNeedDrain;
  }

  /** {@inheritDoc GuestLink.onFrames} */
  onFrames(listener: (frames: Uint8Array[]) => void): void {
    this.on('frames', listener);
  }

  /** {@inheritDoc GuestLink.onDrain} */
  onDrain(listener: () => void): void {
    this.on('drain', listener);
  }

  /** Drops the current client, if any (the link goes back to listening, or closes if oneOff). */
  disconnect(): void {
    this.dropClient('local');
  }

  /**
   * Drops the client, stops listening and removes the socket file; idempotent.
   *
   * @returns A promise that settles when the server is closed.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      this.dropClient('local');
      const done = (): void => {
        this.closed = true;
        this.emit('close');
        resolve();
      };
      // libuv unlinks the path it bound before closing the fd (no race with a new owner).
      if (this.server) this.server.close(done);
      else done();
    });
    return this.closing;
  }

  private onConnection(sock: Socket): void {
    if (this.client !== undefined || this.closing !== undefined) {
      this.counters.refusedClients++;
      sock.destroy();
      return;
    }
    this.client = sock;
    this.clientEndReason = undefined;
    this.counters.clients++;
    this.reassembler.reset();
    sock.on('data', (chunk: Buffer) => this.onData(sock, chunk));
    sock.on('drain', () => {
      if (this.client === sock) this.emit('drain');
    });
    sock.on('error', () => {
      this.clientEndReason ??= 'error';
    });
    sock.on('close', (hadError) => {
      if (this.client !== sock) return;
      this.client = undefined;
      const reason = this.clientEndReason ?? (hadError ? 'error' : 'eof');
      this.emit('disconnect', reason);
      if (this.oneOff) void this.close();
    });
    this.emit('connect');
  }

  private onData(sock: Socket, chunk: Buffer): void {
    if (this.client !== sock) return;
    const r = this.reassembler.push(chunk);
    if (r.frames.length > 0) {
      this.counters.rxFrames += r.frames.length;
      for (const f of r.frames) this.counters.rxBytes += f.length;
      this.emit('frames', r.frames);
    }
    if (r.badLength !== undefined) {
      this.counters.badLength++;
      this.dropClient('bad-length', sock);
    }
  }

  private dropClient(reason: StreamDisconnectReason, only?: Socket): void {
    const sock = this.client;
    if (sock === undefined || (only !== undefined && sock !== only)) return;
    this.clientEndReason ??= reason;
    sock.destroy();
  }
}

/**
 * Makes `path` free for listening: nothing there, or a stale socket (unlinked).
 *
 * @throws BinderyError (ErrorCode.Link) when something accepts on it or it is not a socket.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new BinderyError(ErrorCode.Link, `cannot inspect ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!isSocket) {
    throw new BinderyError(ErrorCode.Link, `${path} exists and is not a socket; not removing it`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new BinderyError(
      ErrorCode.Link,
      `${path} is in use: another process accepts connections on it`,
    );
  }
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new BinderyError(ErrorCode.Link, `cannot remove stale socket ${path}`, { cause: err });
    }
  }
}

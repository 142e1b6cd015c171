// Typed wrapper of the native shim (native/*.c): taps in a network namespace, ping sockets, device-bound UDP, filtered packet sockets.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { BinderyError, ErrorCode } from '../errors.js';

/** Shape version of the shim's exports this wrapper speaks (BDY_ABI in native/bindery.c). */
const NATIVE_ABI = 15;

declare const handleBrand: unique symbol;
/** An open tap, datagram socket or epoll set inside the shim (a tagged N-API external). */
export type Handle = { readonly [handleBrand]: true };

declare const tcpBrand: unique symbol;
/**
 * A TCP socket inside the shim (a tagged N-API external holding the fd; no fd number reaches
 * JS). Once closed, every call on it meets EBADF; one never closed is closed when collected.
 */
export type TcpHandle = { readonly [tcpBrand]: true };

declare const unixBrand: unique symbol;
/** A unix socket of the repair helper's protocol inside the shim (native/repair.c). */
export type UnixHandle = { readonly [unixBrand]: true };

/**
 * One batch from the shim: `batch` starts with `count` pairs of u32 (length, source port) in host
 * byte order, followed by the payloads back to back; `addrs` (sockets only) holds the sources.
 */
export type DataCallback = (batch: ArrayBuffer, count: number, addrs: string[] | undefined) => void;

/** The raw exports of build/Release/bindery_native.node. */
export interface Shim {
  abiVersion(): number;
  setErrorClass(ctor: new (message: string, errno: string, syscall: string) => Error): void;
  tapOpen(
    netns: string,
    name: string,
    mtu: number,
    up: boolean,
    offload: boolean,
    reuseRx: boolean,
    multiQueue: boolean,
  ): [Handle, string];
  pingOpen(
    family: 4 | 6,
    ident: number,
    localAddr: string | null,
    netns: string | null,
  ): [Handle, number];
  udpOpen(device: string, addr: string, port: number, netns: string | null): [Handle, number];
  packetOpen(device: string, netns: string | null): [Handle, number];
  start(h: Handle, onData: DataCallback, onError: (e: SyscallError) => void): void;
  tapSend(h: Handle, frames: readonly Uint8Array[], csum?: Uint16Array, gso?: Uint16Array): number;
  dgramSend(h: Handle, addr: string, port: number, data: Uint8Array): boolean;
  readNow(h: Handle): void;
  close(h: Handle): void;
  pollerOpen(): Handle;
  pollerWatch(h: Handle, sock: TcpHandle, id: number, mask: number): number;
  /** Test hook: the next `n` copied receive batches find no ArrayBuffer (delivered late). */
  failBatches(n: number): number;
  tcpSocket(family: 4 | 6, mss: number): TcpHandle;
  tcpConnect(s: TcpHandle, family: 4 | 6, addr: string, port: number): number;
  tcpListen(addr: string, port: number, backlog: number): [TcpHandle, number];
  tcpAccept(s: TcpHandle, mss: number): [TcpHandle, string, number, string, number] | number;
  tcpPeek(s: TcpHandle, buf: Uint8Array, iov: Uint32Array, count: number, offset: number): number;
  tcpConsume(s: TcpHandle, n: number): number;
  tcpSend(s: TcpHandle, bufs: readonly Uint8Array[], count: number): number;
  tcpShutdown(s: TcpHandle): number;
  tcpClose(s: TcpHandle, reset: boolean): void;
  tcpSocketError(s: TcpHandle): number;
  tcpInfo(s: TcpHandle, out: Uint32Array): number;
  // native/repair.c (typed in native/repair.ts)
  repairSet(s: TcpHandle, mode: number): number;
  repairQueue(s: TcpHandle, queue: number): number;
  repairSeq(s: TcpHandle): number;
  repairSetSeq(s: TcpHandle, seq: number): number;
  repairWindow(s: TcpHandle, out: Uint32Array): number;
  repairSetWindow(s: TcpHandle, w: Uint32Array): number;
  repairSetOptions(s: TcpHandle, opts: Uint32Array): number;
  repairInfo(s: TcpHandle, out: Uint32Array): number;
  repairSetTimestamp(s: TcpHandle, ts: number): number;
  repairPeek(s: TcpHandle, buf: Uint8Array): number;
  repairWrite(s: TcpHandle, data: Uint8Array): number;
  tcpBind(s: TcpHandle, family: 4 | 6, addr: string, port: number): number;
  tcpAddrs(s: TcpHandle): [string, number, string, number] | number;
  tcpSetBuffers(s: TcpHandle, sndbuf: number, rcvbuf: number): number;
  unixListen(path: string, mode: number): UnixHandle;
  unixAccept(l: UnixHandle, timeoutMs: number): UnixHandle | number;
  unixRecvFds(c: UnixHandle, timeoutMs: number): [number, TcpHandle[]] | number;
  unixSendByte(c: UnixHandle, byte: number): number;
  unixClose(h: UnixHandle): void;
  repairRequest(path: string, cmd: number, socks: readonly TcpHandle[], timeoutMs: number): number;
  fwdListen(family: 4 | 6, port: number, backlog: number): TcpHandle;
  fwdUdpOpen(family: 4 | 6, port: number): TcpHandle;
  fwdOriginalDst(s: TcpHandle, family: 4 | 6): [string, number] | number;
  fwdUdpRecv(s: TcpHandle, buf: Uint8Array): [number, string, number, string] | number;
  fwdUdpSend(
    s: TcpHandle,
    family: 4 | 6,
    data: Uint8Array,
    addr: string,
    port: number,
    src: string,
  ): number;
  fwdRaiseNofile(): [number, number];
  // native/udp.c (typed in native/udp.ts)
  udpSocket(
    family: 4 | 6,
    bindAddr: string | null,
    bindPort: number,
    peerAddr: string | null,
    peerPort: number,
  ): [TcpHandle, number];
  udpRecvMany(s: TcpHandle, buf: Uint8Array, slot: number, meta: Uint32Array, max: number): number;
  udpSendMany(
    s: TcpHandle,
    bufs: readonly Uint8Array[],
    count: number,
    family: 4 | 6,
    addr: string | null,
    port: number,
  ): number;
}

/**
 * A system call made by the shim failed. `errno` is the symbolic name ('ENOENT', 'EPERM', ...),
 * `syscall` the call ('open', 'setns', 'ioctl(TUNSETIFF)', 'bind', ...); the message names both
 * and what the call was applied to.
 */
export class SyscallError extends BinderyError {
  /** Symbolic errno name, as Node reports them (libuv's names). */
  readonly errno: string;
  /** The failing call, e.g. 'setns' or 'ioctl(TUNSETIFF)'. */
  readonly syscall: string;
  /** For `TapDevice.send` only: frames written before the failing one (set by the shim). */
  declare readonly sent?: number;

  /** Built by the shim: `new SyscallError(message, errno, syscall)`. */
  constructor(message: string, errno: string, syscall: string) {
    super(ErrorCode.Syscall, message);
    this.name = 'SyscallError';
    this.errno = errno;
    this.syscall = syscall;
  }
}

let shim: Shim | undefined;

/**
 * Loads the shim once (package root is two levels up from src/native and dist/native); for the
 * other wrappers in this folder.
 *
 * @internal
 */
export function native(): Shim {
  if (shim !== undefined) return shim;
  const path = fileURLToPath(new URL('../../build/Release/bindery_native.node', import.meta.url));
  let mod: Partial<Shim>;
  try {
    mod = createRequire(import.meta.url)(path) as Partial<Shim>;
  } catch (e) {
    throw new BinderyError(
      ErrorCode.NativeUnavailable,
      `cannot load the native shim ${path} (npm install builds it with node-gyp): ${(e as Error).message}`,
      { cause: e },
    );
  }
  const abi = typeof mod.abiVersion === 'function' ? mod.abiVersion() : 0;
  if (abi !== NATIVE_ABI || typeof mod.setErrorClass !== 'function')
    throw new BinderyError(
      ErrorCode.NativeUnavailable,
      `the native shim ${path} has ABI ${abi}, this code needs ${NATIVE_ABI}: rebuild it (npx node-gyp rebuild)`,
    );
  mod.setErrorClass(SyscallError);
  shim = mod as Shim;
  return shim;
}

/**
 * Loads the shim and returns its ABI version.
 *
 * @throws BinderyError (NativeUnavailable) when it is not built or built from other sources.
 */
export function nativeAbiVersion(): number {
  return native().abiVersion();
}

/**
 * Test hook: the next `n` receive batches of copying (not reuseRx) taps and datagram sockets find
 * their ArrayBuffer not creatable, as when the JS heap is exhausted; such a batch must arrive
 * late, not be lost.
 *
 * @returns how many failures of the previous call were still to come (0: all happened).
 * @internal
 */
export function failNextBatches(n: number): number {
  return native().failBatches(n);
}

/** Common part of taps and sockets: polling start, error delivery, close. */
export abstract class Endpoint {
  private errorCb: ((e: SyscallError) => void) | undefined;
  private started = false;

  constructor(protected readonly handle: Handle) {}

  /** Starts polling once; the shim holds `onData` (and so this object) until close(). */
  protected start(onData: DataCallback): void {
    if (this.started) return;
    native().start(this.handle, onData, (e) => this.emitError(e));
    this.started = true;
  }

  private emitError(e: SyscallError): void {
    if (this.errorCb !== undefined) this.errorCb(e);
    else process.emitWarning(e);
  }

  /** Sets the handler of asynchronous read errors (default: a process warning). */
  onError(cb: (e: SyscallError) => void): void {
    this.errorCb = cb;
  }

  /** Stops reading and closes the fd; idempotent. Later sends throw EBADF. */
  close(): void {
    native().close(this.handle);
  }
}

/**
 * A tap device opened inside a network namespace. Frames the namespace's kernel sends on the
 * link arrive in batches (one callback per event-loop wake-up, at most 64 frames); the Uint8Arrays
 * of a batch are views into one ArrayBuffer, so keeping any frame keeps its whole batch alive.
 */
export interface TapDevice {
  /** The interface name (the kernel's choice when the requested name was ''). */
  readonly name: string;
  /** Whether checksum/TSO offloads are on (frames carry a virtio_net_hdr on the fd). */
  readonly offload: boolean;
  /**
   * Batches arrive in one reused buffer (opened with `reuseRx`): frames are valid only until
   * the callback returns (microtasks included); copy what must live longer.
   */
  readonly transient: boolean;
  /**
   * Sets the receiver of frame batches and starts reading (frames queue in the kernel until
   * then). On an offloading tap the virtio_net_hdr is stripped and `vnet` holds three numbers
   * per frame: its flags (1 = NEEDS_CSUM: the TCP/UDP checksum is partial; 2 = DATA_VALID),
   * csum_start and csum_offset.
   */
  onFrames(cb: (frames: Uint8Array[], vnet?: Uint16Array) => void): void;
  /**
   * Writes frames in order, one non-blocking write() each. Stops when the kernel queue is full
   * and returns how many were written; the rest are the caller's drops.
   *
   * @param csum - On an offloading tap: (csum_start, csum_offset) per frame, offsets from the
   *   frame's first byte, for frames whose TCP/UDP checksum field holds only the pseudo-header
   *   sum (the kernel is told so and never computes it for local delivery); csum_offset 0, or no
   *   entry, for a complete frame. The shim does not look into the frames.
   * @param gso - On an offloading tap: (gso_type, gso_size, hdr_len) per frame for TCP frames
   *   past the MTU that the kernel takes as gso_size segments (usernet/link/gso.ts); type 0, or
   *   no entry, for a frame sent as is.
   * @throws SyscallError on other write errors (EINVAL for places outside the frame or a gso
   *   header the kernel refuses; `sent` = frames written before it), EBADF after close().
   */
  send(frames: readonly Uint8Array[], csum?: Uint16Array, gso?: Uint16Array): number;
  /** Sets the receiver of asynchronous read errors (reading stops after one; default: a warning). */
  onError(cb: (e: SyscallError) => void): void;
  /** Stops reading and closes the fd: the tap disappears from its namespace. Idempotent. */
  close(): void;
}

/**
 * Splits a shim batch into views, one per frame. Why one ArrayBuffer per batch rather than one
 * Buffer per frame: draining a full tap queue of 64-byte frames in batches of 64 cost about
 * 1.3 µs of CPU per frame this way against 2.3 µs with a napi_create_buffer_copy per frame
 * (the read() itself included; 1400-byte frames: 2.3 against 2.7 µs). One allocation, one copy
 * and one JS call per batch; the views cost less than N native Buffer creations.
 */
function views(batch: ArrayBuffer, count: number): Uint8Array[] {
  const meta = new Uint32Array(batch, 0, count * 2);
  const out = new Array<Uint8Array>(count);
  let off = count * 8;
  for (let i = 0; i < count; i++) {
    const len = meta[2 * i]!;
    out[i] = new Uint8Array(batch, off, len);
    off += len;
  }
  return out;
}

/** Length of the virtio_net_hdr on an offloading tap (BDY_VNET_HDR_LEN). */
const VNET_HDR_LEN = 10;

/** Strips the virtio_net_hdr of each frame; returns flags, csum_start, csum_offset per frame. */
function stripVnet(frames: Uint8Array[]): Uint16Array {
  const vnet = new Uint16Array(frames.length * 3);
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (f.length < VNET_HDR_LEN) {
      frames[i] = f.subarray(f.length);
      continue;
    }
    vnet[3 * i] = f[0]!;
    vnet[3 * i + 1] = f[6]! | (f[7]! << 8);
    vnet[3 * i + 2] = f[8]! | (f[9]! << 8);
    frames[i] = f.subarray(VNET_HDR_LEN);
  }
  return vnet;
}

/** Offset of the frames in a reused receive buffer (RX_META in native/bindery.c). */
const RX_META = 8 * 64;

/** Views of a reused-buffer batch: (length, offset past RX_META) pairs, then the frames. */
function reusedViews(batch: ArrayBuffer, count: number): Uint8Array[] {
  const meta = new Uint32Array(batch, 0, count * 2);
  const out = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++)
    out[i] = new Uint8Array(batch, RX_META + meta[2 * i + 1]!, meta[2 * i]!);
  return out;
}

class Tap extends Endpoint implements TapDevice {
  private framesCb: (frames: Uint8Array[], vnet?: Uint16Array) => void = () => {};

  constructor(
    handle: Handle,
    readonly name: string,
    readonly offload: boolean,
    readonly transient: boolean,
  ) {
    super(handle);
  }

  onFrames(cb: (frames: Uint8Array[], vnet?: Uint16Array) => void): void {
    this.framesCb = cb;
    this.start((batch, count) => {
      const frames = this.transient ? reusedViews(batch, count) : views(batch, count);
      if (!this.offload) return this.framesCb(frames);
      const vnet = stripVnet(frames);
      this.framesCb(frames, vnet);
    });
  }

  send(frames: readonly Uint8Array[], csum?: Uint16Array, gso?: Uint16Array): number {
    return native().tapSend(this.handle, frames, csum, gso);
  }
}

/**
 * Opens tap `name` (IFF_TAP, no packet info) inside network namespace `netns` without moving this
 * process: a short-lived thread does setns() and the ioctls. The fd is non-blocking and
 * close-on-exec, and is closed at close() or when the process exits.
 *
 * @param opts.netns - Name under /run/netns (as `ip netns add` makes) or an absolute path;
 *   '' opens the tap in this process's own namespace.
 * @param opts.name - Interface name (at most 15 bytes); '' lets the kernel pick tapN.
 * @param opts.mtu - MTU to set (default: the kernel's, 1500).
 * @param opts.up - Bring the link up (default false).
 * @param opts.offload - IFF_VNET_HDR with checksum and TSO offloads (default false): the
 *   namespace's kernel leaves TCP/UDP checksums partial both ways (see TapDevice).
 * @param opts.reuseRx - Read every batch into one reused buffer, no copy and no garbage per
 *   batch (default false); frames are then valid only during the callback (TapDevice.transient).
 * @param opts.multiQueue - IFF_MULTI_QUEUE (default false): the first open creates the tap, each
 *   later open of the same name (same flags) adds one more queue, read and written on its own fd;
 *   the kernel spreads the namespace's flows over the queues (and sends a flow's frames to the
 *   queue last written with that flow, tun's flow steering).
 * @throws SyscallError e.g. ENOENT (no such namespace), EPERM (no CAP_NET_ADMIN), EBUSY.
 * @throws BinderyError (NativeUnavailable) when the shim is not built.
 */
export function openTap(opts: {
  netns: string;
  name: string;
  mtu?: number;
  up?: boolean;
  offload?: boolean;
  reuseRx?: boolean;
  multiQueue?: boolean;
}): TapDevice {
  const offload = opts.offload ?? false;
  const reuse = opts.reuseRx ?? false;
  const [handle, name] = native().tapOpen(
    opts.netns,
    opts.name,
    opts.mtu ?? 0,
    opts.up ?? false,
    offload,
    reuse,
    opts.multiQueue ?? false,
  );
  return new Tap(handle, name, offload, reuse);
}

/** One received datagram; `data` is a view into the batch's shared ArrayBuffer. */
export interface Datagram {
  /** Payload (for ping sockets: the ICMP header and data, no IP header). */
  readonly data: Uint8Array;
  /** Source address ('10.0.0.1', '::1', 'fe80::1%2'). */
  readonly addr: string;
  /** Source port (0 for ping sockets). */
  readonly port: number;
}

/** A ping or UDP socket served on the event loop, messages delivered in batches (at most 64). */
export interface DatagramEndpoint {
  /** The bound port; for ping sockets the echo identifier the kernel writes into requests. */
  readonly localPort: number;
  /** Address family of the socket. */
  readonly family: 4 | 6;
  /**
   * Sends one datagram (non-blocking). For ping sockets `data` is a whole ICMP echo message and
   * `port` is ignored; the kernel sets identifier and checksum.
   *
   * @returns false when the socket buffer is full and the datagram was dropped.
   * @throws SyscallError on other errors (e.g. ENETUNREACH, EINVAL for a malformed address).
   */
  send(addr: string, port: number, data: Uint8Array): boolean;
  /** Sets the receiver of message batches and starts reading. */
  onMessages(cb: (msgs: Datagram[]) => void): void;
  /**
   * Reads what is queued now, as a wake-up of the loop would: onMessages (or onError) runs
   * before this returns. A no-op before onMessages and after close.
   */
  readNow(): void;
  /** Sets the receiver of asynchronous receive errors (e.g. ECONNREFUSED; default: a warning). */
  onError(cb: (e: SyscallError) => void): void;
  /** Stops reading and closes the socket. Idempotent. */
  close(): void;
}

class DatagramSocket extends Endpoint implements DatagramEndpoint {
  private messagesCb: (msgs: Datagram[]) => void = () => {};

  constructor(
    handle: Handle,
    readonly family: 4 | 6,
    readonly localPort: number,
  ) {
    super(handle);
  }

  onMessages(cb: (msgs: Datagram[]) => void): void {
    this.messagesCb = cb;
    this.start((batch, count, addrs) => {
      const meta = new Uint32Array(batch, 0, count * 2);
      const msgs = new Array<Datagram>(count);
      let off = count * 8;
      for (let i = 0; i < count; i++) {
        const len = meta[2 * i]!;
        msgs[i] = {
          data: new Uint8Array(batch, off, len),
          addr: addrs![i]!,
          port: meta[2 * i + 1]!,
        };
        off += len;
      }
      this.messagesCb(msgs);
    });
  }

  send(addr: string, port: number, data: Uint8Array): boolean {
    return native().dgramSend(this.handle, addr, port, data);
  }

  readNow(): void {
    native().readNow(this.handle);
  }
}

/**
 * Opens an ICMP (family 4) or ICMPv6 (family 6) "ping" datagram socket, bound to echo identifier
 * `ident` (default 0: the kernel picks a free one) and `localAddr`. Replies arrive with their
 * source address. The caller's group must be in net.ipv4.ping_group_range of the namespace.
 *
 * @param opts.netns - Create the socket inside this namespace (name or absolute path).
 * @throws SyscallError e.g. EACCES (group not in ping_group_range), EADDRINUSE (identifier taken).
 */
export function openPingSocket(opts: {
  family: 4 | 6;
  ident?: number;
  localAddr?: string;
  netns?: string;
}): DatagramEndpoint {
  const [handle, port] = native().pingOpen(
    opts.family,
    opts.ident ?? 0,
    opts.localAddr ?? null,
    opts.netns ?? null,
  );
  return new DatagramSocket(handle, opts.family, port);
}

/**
 * Opens a UDP socket for a DHCP-style server: SO_BINDTODEVICE `device`, SO_BROADCAST and
 * SO_REUSEADDR, bound to (`addr`, `port`). IPv6 when `addr` contains ':'.
 *
 * @param opts.addr - Local address (default '0.0.0.0').
 * @param opts.netns - Create the socket inside this namespace (the device is looked up there).
 * @throws SyscallError e.g. ENODEV (no such device), EADDRINUSE, EPERM (no CAP_NET_RAW).
 */
export function openDeviceUdpSocket(opts: {
  device: string;
  port: number;
  addr?: string;
  netns?: string;
}): DatagramEndpoint {
  const addr = opts.addr ?? '0.0.0.0';
  const [handle, port] = native().udpOpen(opts.device, addr, opts.port, opts.netns ?? null);
  return new DatagramSocket(handle, addr.includes(':') ? 6 : 4, port);
}

/** PacketEndpoint frame flag: the frame's TCP/UDP checksum is partial (BDY_PKT_CSUM_PARTIAL). */
export const PACKET_CSUM_PARTIAL = 1;

/**
 * A packet socket on one device that sees only an address server's requests: DHCPv4 (IPv4 UDP
 * to port 67), DHCPv6 (IPv6 UDP to port 547) and router solicitations (ICMPv6 type 133). Frames
 * arrive in batches like a tap's (at most 64 per callback, views into one ArrayBuffer); frames
 * the host itself sends on the device are not delivered.
 */
export interface PacketEndpoint {
  /** The device's interface index in its namespace. */
  readonly ifindex: number;
  /**
   * Sets the receiver of frame batches and starts reading. `flags` holds one number per frame:
   * PACKET_CSUM_PARTIAL when its TCP/UDP checksum is partial (the sender, on this host, left it
   * to offload: it holds only the pseudo-header sum and must be completed, not verified).
   */
  onFrames(cb: (frames: Uint8Array[], flags: Uint32Array) => void): void;
  /**
   * Writes whole Ethernet frames out of the device, one non-blocking write each; stops when the
   * queue is full and returns how many were written.
   *
   * @throws SyscallError on other errors, EBADF after close().
   */
  send(frames: readonly Uint8Array[]): number;
  /** Sets the receiver of asynchronous receive errors (e.g. ENETDOWN; default: a warning). */
  onError(cb: (e: SyscallError) => void): void;
  /** Stops reading and closes the socket. Idempotent. */
  close(): void;
}

class PacketSocket extends Endpoint implements PacketEndpoint {
  constructor(
    handle: Handle,
    readonly ifindex: number,
  ) {
    super(handle);
  }

  onFrames(cb: (frames: Uint8Array[], flags: Uint32Array) => void): void {
    this.start((batch, count) => {
      const meta = new Uint32Array(batch, 0, count * 2);
      const flags = new Uint32Array(count);
      for (let i = 0; i < count; i++) flags[i] = meta[2 * i + 1]!;
      cb(views(batch, count), flags);
    });
  }

  send(frames: readonly Uint8Array[]): number {
    return native().tapSend(this.handle, frames);
  }
}

/**
 * Opens an AF_PACKET socket bound to `device`, created inside `netns`, with a classic BPF filter
 * that passes only IPv4 UDP to port 67, IPv6 UDP to port 547 and ICMPv6 router solicitations.
 * The filter reads the IPv6 next header of the fixed header only: requests behind IPv6
 * extension headers are not seen (DHCPv6 clients and RS senders use none).
 *
 * @param opts.netns - Create the socket inside this namespace (name or absolute path).
 * @throws SyscallError e.g. ENODEV (no such device), EPERM (no CAP_NET_RAW).
 */
export function openPacketSocket(opts: { device: string; netns?: string }): PacketEndpoint {
  const [handle, ifindex] = native().packetOpen(opts.device, opts.netns ?? null);
  return new PacketSocket(handle, ifindex);
}

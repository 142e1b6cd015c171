// Typed wrapper of the shim's TCP_REPAIR calls and of the repair helper's unix socket (native/repair.c).
//
// Data-path style like native/tcp.ts: calls return errno values (negative where a count or a
// sequence number is returned otherwise) instead of throwing; only unixListen throws.
import { native, type TcpHandle, type UnixHandle } from './index.js';

export type { UnixHandle } from './index.js';

/** TCP_REPAIR values (linux/tcp.h): on, off, off without the window probe. */
export const RepairMode = { On: 1, Off: 0, OffNoProbe: -1 } as const;
/** TCP_REPAIR_QUEUE values. */
export const RepairQueue = { None: 0, Recv: 1, Send: 2 } as const;
/** TCP_REPAIR_OPTIONS codes (the TCP option kinds). */
export const RepairOpt = { Mss: 2, Window: 3, SackPerm: 4, Timestamp: 8 } as const;
/** tcpi_options bits. */
export const TcpiOpt = { Timestamps: 1, Sack: 2, Wscale: 4 } as const;
/** tcpi_state values used here. */
export const TcpState = { Established: 1 } as const;

/** What a socket in repair mode tells about itself (repairInfo). */
export interface RepairInfo {
  readonly state: number;
  readonly options: number;
  readonly sndWscale: number;
  readonly rcvWscale: number;
  /** The MSS clamp (TCP_MAXSEG). */
  readonly mss: number;
  /** TCP_TIMESTAMP (0 without timestamps). */
  readonly timestamp: number;
  /** Bytes in the send queue, of which not sent yet, and in the receive queue. */
  readonly sendQueue: number;
  readonly notSent: number;
  readonly recvQueue: number;
}

/** TCP_REPAIR_WINDOW. */
export interface RepairWindow {
  readonly sndWl1: number;
  readonly sndWnd: number;
  readonly maxWindow: number;
  readonly rcvWnd: number;
  readonly rcvWup: number;
}

const infoBuf = new Uint32Array(9);
const wndBuf = new Uint32Array(5);

/** TCP_REPAIR on a socket (needs CAP_NET_ADMIN: the helper's call). */
export const repairSet = (s: TcpHandle, mode: number): number => native().repairSet(s, mode);
/** Selects the queue the next seq/peek/write calls act on. */
export const repairQueue = (s: TcpHandle, q: number): number => native().repairQueue(s, q);
/** TCP_QUEUE_SEQ of the selected queue (write_seq or rcv_nxt), or −errno. */
export const repairSeq = (s: TcpHandle): number => native().repairSeq(s);
export const repairSetSeq = (s: TcpHandle, seq: number): number => native().repairSetSeq(s, seq);
export const repairSetTimestamp = (s: TcpHandle, ts: number): number =>
  native().repairSetTimestamp(s, ts);
/** Copies the selected queue into buf: bytes, or −errno. */
export const repairPeek = (s: TcpHandle, buf: Uint8Array): number => native().repairPeek(s, buf);
/** Appends to the selected queue (in repair mode) or sends (out of it): bytes, or −errno. */
export const repairWrite = (s: TcpHandle, data: Uint8Array): number =>
  native().repairWrite(s, data);
/** bind (in repair mode the port may be in use: SK_FORCE_REUSE). */
export const tcpBind = (s: TcpHandle, family: 4 | 6, addr: string, port: number): number =>
  native().tcpBind(s, family, addr, port);

/** SO_SNDBUF and SO_RCVBUF (0 leaves one as it is; the kernel caps them). */
export const tcpSetBuffers = (s: TcpHandle, sndbuf: number, rcvbuf: number): number =>
  native().tcpSetBuffers(s, sndbuf, rcvbuf);

/** Local and peer address of a connected socket, or the errno. */
export function tcpAddrs(
  s: TcpHandle,
): { localAddr: string; localPort: number; peerAddr: string; peerPort: number } | number {
  const r = native().tcpAddrs(s);
  if (typeof r === 'number') return r;
  return { localAddr: r[0], localPort: r[1], peerAddr: r[2], peerPort: r[3] };
}

export function repairInfo(s: TcpHandle): RepairInfo | number {
  const e = native().repairInfo(s, infoBuf);
  if (e !== 0) return e;
  const b = infoBuf;
  return {
    state: b[0]!,
    options: b[1]!,
    sndWscale: b[2]!,
    rcvWscale: b[3]!,
    mss: b[4]!,
    timestamp: b[5]!,
    sendQueue: b[6]!,
    notSent: b[7]!,
    recvQueue: b[8]!,
  };
}

export function repairWindow(s: TcpHandle): RepairWindow | number {
  const e = native().repairWindow(s, wndBuf);
  if (e !== 0) return e;
  const [sndWl1, sndWnd, maxWindow, rcvWnd, rcvWup] = wndBuf;
  return {
    sndWl1: sndWl1!,
    sndWnd: sndWnd!,
    maxWindow: maxWindow!,
    rcvWnd: rcvWnd!,
    rcvWup: rcvWup!,
  };
}

export function repairSetWindow(s: TcpHandle, w: RepairWindow): number {
  return native().repairSetWindow(
    s,
    Uint32Array.of(w.sndWl1, w.sndWnd, w.maxWindow, w.rcvWnd, w.rcvWup),
  );
}

/** TCP_REPAIR_OPTIONS from (code, value) pairs. */
export function repairSetOptions(
  s: TcpHandle,
  opts: readonly (readonly [number, number])[],
): number {
  return native().repairSetOptions(s, Uint32Array.from(opts.flat()));
}

/**
 * The translator's side of the helper protocol: sends `cmd` with the sockets (SCM_RIGHTS) to
 * the helper at `path` and waits up to timeoutMs for its status byte (blocking).
 *
 * @returns the status byte, or −errno (connect, send or receive failed, −ETIMEDOUT).
 */
export function repairRequest(
  path: string,
  cmd: number,
  socks: readonly TcpHandle[],
  timeoutMs: number,
): number {
  return native().repairRequest(path, cmd, socks, timeoutMs);
}

/** The helper's listening socket (SOCK_SEQPACKET, file mode `mode`). Throws SyscallError. */
export const unixListen = (path: string, mode: number): UnixHandle =>
  native().unixListen(path, mode);
/** One connection, or the errno (ETIMEDOUT: none within timeoutMs). */
export const unixAccept = (l: UnixHandle, timeoutMs: number): UnixHandle | number =>
  native().unixAccept(l, timeoutMs);
/** One request: [command byte, sockets], 0 (peer closed) or an errno (EPROTO: malformed). */
export const unixRecvFds = (c: UnixHandle, timeoutMs: number): [number, TcpHandle[]] | number =>
  native().unixRecvFds(c, timeoutMs);
export const unixSendByte = (c: UnixHandle, b: number): number => native().unixSendByte(c, b);
export const unixClose = (h: UnixHandle): void => native().unixClose(h);

// The TCP_REPAIR half of the host-socket seam: what flow hand-over asks of the pod's kernel, and the native implementation.
//
// Setting repair mode needs CAP_NET_ADMIN, which the translator does not have: `setRepair`
// sends the sockets to the privileged helper (`bindery repair-helper`, runner/repair-helper.ts)
// over its unix socket. Everything else works on a socket already in repair mode.
import type { TcpSock } from './tcp.js';
import {
  repairInfo,
  repairPeek,
  repairQueue,
  repairRequest,
  repairSeq,
  repairSetOptions,
  repairSetSeq,
  repairSetTimestamp,
  repairSetWindow,
  repairWindow,
  repairWrite,
  tcpAddrs,
  tcpBind,
  tcpSetBuffers,
  type RepairInfo,
  type RepairWindow,
} from '../../native/repair.js';
import type { TcpHandle } from '../../native/tcp.js';

export type { RepairInfo, RepairWindow } from '../../native/repair.js';
export { RepairMode, RepairQueue, RepairOpt, TcpiOpt, TcpState } from '../../native/repair.js';

/** How long the translator waits for the helper's answer. */
export const HELPER_TIMEOUT_MS = 5000;

/** TCP_REPAIR operations on the translator's host sockets. */
export interface TcpRepair {
  /**
   * Asks the helper to set TCP_REPAIR to `mode` (RepairMode) on every socket.
   *
   * @returns 0, or a description of the failure.
   */
  setRepair(socks: readonly TcpSock[], mode: number): 0 | string;
  info(s: TcpSock): RepairInfo | number;
  selectQueue(s: TcpSock, q: number): number;
  seq(s: TcpSock): number;
  setSeq(s: TcpSock, seq: number): number;
  window(s: TcpSock): RepairWindow | number;
  setWindow(s: TcpSock, w: RepairWindow): number;
  setOptions(s: TcpSock, opts: readonly (readonly [number, number])[]): number;
  setTimestamp(s: TcpSock, ts: number): number;
  /** The selected queue's bytes (up to `len`), or −errno. */
  peek(s: TcpSock, len: number): Uint8Array | number;
  /** Writes all of `data` to the selected queue (halving chunks on ENOMEM): 0 or the errno. */
  write(s: TcpSock, data: Uint8Array): number;
  bind(s: TcpSock, family: 4 | 6, addr: string, port: number): number;
  /** SO_SNDBUF/SO_RCVBUF (0: unchanged): room for the queues a restore writes. */
  setBuffers(s: TcpSock, sndbuf: number, rcvbuf: number): number;
  addrs(
    s: TcpSock,
  ): { localAddr: string; localPort: number; peerAddr: string; peerPort: number } | number;
}

const h = (s: TcpSock): TcpHandle => s as unknown as TcpHandle;

/** The smallest chunk a restore write is split into when the kernel cannot take more. */
const MIN_CHUNK = 4096;

/**
 * Repair operations on native sockets, with the helper listening at `helperPath`.
 *
 * @param helperPath - `--repair-path`: the helper's unix socket.
 */
export function nativeTcpRepair(helperPath: string): TcpRepair {
  return {
    setRepair(socks, mode) {
      // The helper takes at most 253 fds per request (SCM_MAX_FD).
      for (let i = 0; i < socks.length; i += 253) {
        const batch = socks.slice(i, i + 253).map(h);
        const r = repairRequest(helperPath, mode & 0xff, batch, HELPER_TIMEOUT_MS);
        if (r < 0) return `repair helper at ${helperPath}: errno ${-r}`;
        if (r !== (mode & 0xff)) return `repair helper at ${helperPath} refused (status ${r})`;
      }
      return 0;
    },
    info: (s) => repairInfo(h(s)),
    selectQueue: (s, q) => repairQueue(h(s), q),
    seq: (s) => repairSeq(h(s)),
    setSeq: (s, seq) => repairSetSeq(h(s), seq),
    window: (s) => repairWindow(h(s)),
    setWindow: (s, w) => repairSetWindow(h(s), w),
    setOptions: (s, o) => repairSetOptions(h(s), o),
    setTimestamp: (s, ts) => repairSetTimestamp(h(s), ts),
    peek(s, len) {
      const buf = Buffer.allocUnsafe(len);
      const n = repairPeek(h(s), buf);
      return n < 0 ? n : buf.subarray(0, n);
    },
    write(s, data) {
      let off = 0;
      let chunk = data.length;
      while (off < data.length) {
        const n = repairWrite(h(s), data.subarray(off, off + chunk));
        if (n < 0) {
          const e = -n;
          // ENOBUFS 105, ENOMEM 12, EAGAIN 11: smaller pieces (passt: tcp_flow_repair_queue)
          if ((e === 105 || e === 12 || e === 11) && chunk > MIN_CHUNK) {
            chunk = Math.max(MIN_CHUNK, chunk >>> 1);
            continue;
          }
          return e;
        }
        off += n;
      }
      return 0;
    },
    bind: (s, family, addr, port) => tcpBind(h(s), family, addr, port),
    setBuffers: (s, snd, rcv) => tcpSetBuffers(h(s), snd, rcv),
    addrs: (s) => tcpAddrs(h(s)),
  };
}

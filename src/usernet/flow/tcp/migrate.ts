// TCP translation, hand-over: the flows of a translator leave it (export) and enter another one in a pod with the same address (import), through TCP_REPAIR.
//
// Theory of operation (hand-over; the whole is in conn.ts)
// ========================================================
//
// What moves. Established connections whose both directions are open: the host socket in
// TCP_ESTABLISHED, no FIN either way. Those in a handshake or closing are dropped: the host
// side is reset, and the guest, whose next segment reaches a translator without the flow, gets
// an RST there (RFC 9293 §3.10.7.1). passt moves FIN_WAIT/CLOSE_WAIT too; here a closing flow
// is short-lived and dropping it keeps the restore to one kernel state. UDP and ICMP flows are
// not moved (they are re-created by the guest's next datagram; replies in flight are lost).
//
// Export (the source). `freeze` first: from then on every guest TCP segment is dropped
// silently (no RST: the flows must survive) and nothing is sent to the guest. Each moving
// connection leaves the poller and its timers, drops what the guest acknowledged from its
// socket's queue, and is put in repair mode by the helper (one request for all); then, as
// CRIU and passt do, the kernel's state is read: TCP_INFO (state, scales, options), the MSS
// clamp, the RFC 7323 clock, TCP_REPAIR_WINDOW, and per queue its TCP_QUEUE_SEQ and its bytes
// (MSG_PEEK in repair mode; the send queue holds what the peer has not acknowledged, the
// receive queue what the guest has not acknowledged). The sockets are then closed while in
// repair mode, which sends nothing (no FIN, no RST).
//
// The pod's address must stop reaching the source before the export. A socket in repair mode
// still takes in and acknowledges the peer's segments (seen on Linux 6.18): data acknowledged
// after the dump would be lost to the target, and the peer would wait for it forever. And once
// the socket is closed the source pod's kernel answers the peer's segments with RSTs. So the
// orchestrator withdraws the route to the source first, exports, imports, then routes to the
// target (runner/handover.ts); the peer's retransmissions find the target.
//
// Import (the target). A socket per flow, put in repair mode by the helper, bound to the same
// local address and port, both queue sequence numbers set, connected (no SYN in repair mode),
// the receive queue written back, then the sent part of the send queue (in repair mode these
// count as sent and unacknowledged: the retransmission timer resends them), the options and
// the window; repair mode off (see Probes). The guest side is rebuilt from the state: our
// sequence numbers towards the guest restart at the first byte the guest has not acknowledged
// (what was in flight is sent again from the socket's queue, as after a timeout), and the send
// queue's never-sent tail, then the guest data we had acknowledged but not written, wait in our
// own queue for the socket, written as it takes them. An ACK goes to the guest at once. Out-of-order guest data is not moved (never
// acknowledged, the guest sends it again).
//
// Probes. A restored socket has no RTT sample: its first retransmission waits 3 s (RFC 6298
// §5.7, TCP_TIMEOUT_FALLBACK), and the peer, which may already hold everything in flight, says
// nothing until asked. The window probe that repair-off normally sends would go out before the
// caller routes the pod address to the target, and its answer would be lost; worse, the peer
// answers such old-sequence probes with a duplicate ACK at most once per 500 ms (Linux
// tcp_invalid_ratelimit), so the lost answer would silence the next probes too. So repair mode
// is turned off without the probe (TCP_REPAIR_OFF_NO_WP), and a socket with unacknowledged data
// gets window probes — TCP_REPAIR off again, by the helper — at PROBE_MS after the import
// (spaced for that limit), until the peer acknowledges something (the bytes in flight
// changed). The first answered probe restarts the ACK clock.
import { BinderyError, ErrorCode } from '../../../errors.js';
import { seqDiff } from '../../../wire/seq.js';
import type { FlowSide } from '../table.js';
import type { TcpSock } from '../../host/tcp.js';
import {
  RepairMode,
  RepairOpt,
  RepairQueue,
  TcpState,
  TcpiOpt,
  type TcpRepair,
} from '../../host/repair.js';
import {
  WATCH_CONN,
  addrBytes,
  addrText,
  allConns,
  consumeAcked,
  forget,
  newConn,
  register,
  resetHost,
  type Conn,
  type TcpCore,
} from './conn.js';
import { markDirty, watch } from './to-guest.js';
import { setDeadline } from './recovery.js';
import type { HostSocketState, TcpFlowState } from './migrate-state.js';

/** Queues up to this size fit a fresh socket's buffers; larger ones get SO_SNDBUF/SO_RCVBUF. */
const DEFAULT_BUF = 64 << 10;
const BUF_SLACK = 256 << 10;
/** When restored sockets with unacknowledged data get window probes (ms after the import). */
export const PROBE_MS = [100, 650, 1200, 1800, 2500, 3300] as const;
/** Extra room when reading a receive queue that may grow while it is read. */
const QUEUE_SLACK = 4 << 20;

/** What an export found. */
export interface ExportResult {
  readonly flows: TcpFlowState[];
  /** Connections not moved (handshake, closing, or a failed dump): reset or forgotten. */
  readonly dropped: number;
}

/** What an import did. */
export interface ImportResult {
  readonly imported: number;
  /** One line per flow that could not be restored (its socket closed in repair mode). */
  readonly failed: string[];
}

/** Stops serving guest TCP: segments are dropped silently from now on (see the theory). */
export function freeze(s: TcpCore): void {
  s.frozen = true;
}

function movable(c: Conn): boolean {
  return (
    c.state === 'established' &&
    c.sock !== undefined &&
    c.flow !== undefined &&
    !c.shut &&
    !c.guestFin &&
    !c.hostFinSignalled &&
    !c.hostEof
  );
}

/** Takes a connection out of the flow table and closes its socket (in repair mode: silently). */
function release(s: TcpCore, c: Conn): void {
  forget(s, c);
}

/** Reads one queue (selected) consistently: its bytes and the sequence number of its head. */
function dumpQueue(r: TcpRepair, sock: TcpSock, q: number, len: number): [number, Uint8Array] {
  if (r.selectQueue(sock, q) !== 0) throw new Error('TCP_REPAIR_QUEUE failed');
  for (let attempt = 0; attempt < 8; attempt++) {
    const cap = len + QUEUE_SLACK;
    const s1 = r.seq(sock);
    const data = r.peek(sock, cap);
    const s2 = r.seq(sock);
    if (s1 < 0 || s2 < 0 || typeof data === 'number')
      throw new Error(`reading the ${q === RepairQueue.Send ? 'send' : 'receive'} queue failed`);
    if (s1 === s2 && data.length < cap) return [(s1 - data.length) >>> 0, data];
    len = data.length;
  }
  throw new Error('the receive queue kept changing');
}

function dumpHost(r: TcpRepair, sock: TcpSock): HostSocketState {
  const info = r.info(sock);
  if (typeof info === 'number') throw new Error(`TCP_INFO: errno ${info}`);
  if (info.state !== TcpState.Established) throw new Error(`TCP state ${info.state}`);
  const a = r.addrs(sock);
  if (typeof a === 'number') throw new Error(`getsockname: errno ${a}`);
  const w = r.window(sock);
  if (typeof w === 'number') throw new Error(`TCP_REPAIR_WINDOW: errno ${w}`);
  const [sndSeq, sendQueue] = dumpQueue(r, sock, RepairQueue.Send, info.sendQueue);
  const [rcvSeq, recvQueue] = dumpQueue(r, sock, RepairQueue.Recv, info.recvQueue);
  r.selectQueue(sock, RepairQueue.None);
  return {
    ...a,
    sndSeq,
    rcvSeq,
    sendQueue,
    notSent: Math.min(info.notSent, sendQueue.length),
    recvQueue,
    ...w,
    sndWscale: info.sndWscale,
    rcvWscale: info.rcvWscale,
    mss: info.mss,
    options: info.options,
    timestamp: info.timestamp,
  };
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Exports every established flow (see the theory); the others are dropped. Call freeze first.
 * The exported flows' sockets are closed in repair mode.
 *
 * @throws BinderyError (Migrate) when the helper does not set repair mode: the flows are then
 *   served again as before.
 */
export function exportFlows(s: TcpCore, r: TcpRepair): ExportResult {
  let dropped = 0;
  const moving: Conn[] = [];
  for (const c of allConns(s)) {
    if (!movable(c)) {
      if (c.state !== 'closed') dropped++;
      resetHost(s, c);
      continue;
    }
    consumeAcked(s, c);
    s.poller?.watch(c.sock!, c.flow!.id, 0);
    setDeadline(s, c, undefined);
    s.dirty.delete(c);
    s.delayed.delete(c);
    moving.push(c);
  }
  if (moving.length === 0) return { flows: [], dropped };
  const set = r.setRepair(
    moving.map((c) => c.sock!),
    RepairMode.On,
  );
  if (set !== 0) {
    s.frozen = false;
    for (const c of moving) {
      watch(s, c.sock!, c.flow!.id, WATCH_CONN);
      c.moreData = true;
      markDirty(s, c);
    }
    throw new BinderyError(ErrorCode.Migrate, `cannot set TCP_REPAIR: ${set}`);
  }
  const flows: TcpFlowState[] = [];
  for (const c of moving) {
    const side = c.flow!.sides[c.inbound ? 1 : 0];
    try {
      const host = dumpHost(r, c.sock!);
      // The receive queue starts at sndUna − unconsumed (acknowledged bytes not yet dropped).
      const recvQueue = host.recvQueue.subarray(c.unconsumed);
      flows.push({
        family: c.family,
        inbound: c.inbound,
        guest: {
          guestAddr: side.endpointAddr,
          guestPort: side.endpointPort,
          remoteAddr: side.ourAddr,
          remotePort: side.ourPort,
          iss: c.iss,
          irs: c.irs,
          rcvNxt: c.rcvNxt,
          rcvEdge: c.rcvEdge,
          sndUna: c.sndUna,
          sndMax: c.sndMax,
          sndWnd: c.sndWnd,
          wsIn: c.wsIn,
          wsOut: c.wsOut,
          mss: c.mss,
          rcvMss: c.rcvMss,
          sackOk: c.sackOk,
          pending: concat(c.pending.map((p) => p.data)),
        },
        host: { ...host, recvQueue, rcvSeq: (host.rcvSeq + c.unconsumed) >>> 0 },
      });
      release(s, c);
    } catch (e) {
      s.deps.log?.(`tcp: hand-over of a flow failed, dropped: ${(e as Error).message}`);
      dropped++;
      release(s, c); // closed in repair mode: nothing reaches the peer
    }
  }
  return { flows, dropped };
}

function restoreHost(r: TcpRepair, s: TcpCore, sock: TcpSock, f: TcpFlowState): void {
  const h = f.host;
  const step = (what: string, e: number) => {
    if (e !== 0) throw new Error(`${what}: errno ${e}`);
  };
  step('bind', r.bind(sock, f.family, h.localAddr, h.localPort));
  if (h.options & TcpiOpt.Timestamps) step('TCP_TIMESTAMP', r.setTimestamp(sock, h.timestamp));
  step('TCP_REPAIR_QUEUE', r.selectQueue(sock, RepairQueue.Send));
  step('TCP_QUEUE_SEQ (send)', r.setSeq(sock, h.sndSeq));
  step('TCP_REPAIR_QUEUE', r.selectQueue(sock, RepairQueue.Recv));
  step('TCP_QUEUE_SEQ (receive)', r.setSeq(sock, h.rcvSeq));
  step('connect', s.host.connect(sock, f.family, h.peerAddr, h.peerPort));
  // Room for the queues: a fresh socket's buffers are far smaller than a busy one's (the
  // kernel refuses repair writes beyond them). Set only when needed: it ends autotuning.
  const room = (n: number) => (n > DEFAULT_BUF ? Math.min(2 * n + BUF_SLACK, 0x7fffffff) : 0);
  step(
    'SO_SNDBUF/SO_RCVBUF',
    r.setBuffers(sock, room(h.sendQueue.length), room(h.recvQueue.length)),
  );
  step('receive queue', r.write(sock, h.recvQueue));
  step('TCP_REPAIR_QUEUE', r.selectQueue(sock, RepairQueue.Send));
  step('send queue', r.write(sock, h.sendQueue.subarray(0, h.sendQueue.length - h.notSent)));
  const opts: [number, number][] = [
    [RepairOpt.Window, h.sndWscale | (h.rcvWscale << 16)],
    [RepairOpt.Mss, h.mss],
  ];
  if (h.options & TcpiOpt.Sack) opts.push([RepairOpt.SackPerm, 0]);
  if (h.options & TcpiOpt.Timestamps) opts.push([RepairOpt.Timestamp, 0]);
  step('TCP_REPAIR_OPTIONS', r.setOptions(sock, opts));
  step('TCP_REPAIR_WINDOW', r.setWindow(sock, h));
  step('TCP_REPAIR_QUEUE', r.selectQueue(sock, RepairQueue.None));
}

function restoreConn(s: TcpCore, sock: TcpSock, f: TcpFlowState): Conn | string {
  const g = f.guest;
  const h = f.host;
  const tail = h.sendQueue.subarray(h.sendQueue.length - h.notSent);
  const guestB = addrBytes(f.family, g.guestAddr);
  const remoteB = addrBytes(f.family, g.remoteAddr);
  if (!guestB || !remoteB) return 'bad guest-side address';
  if (s.table.lookupBytes('tcp', 'guest', guestB, g.guestPort, remoteB, g.remotePort))
    return 'a flow with this guest 4-tuple exists already';
  const c = newConn(s, f.family, guestB, remoteB, g.guestPort, g.remotePort, sock, f.inbound);
  (c as { iss: number }).iss = g.iss;
  Object.assign(c, {
    state: 'established',
    irs: g.irs,
    rcvNxt: g.rcvNxt,
    rcvEdge: g.rcvEdge,
    lastAckSent: g.rcvNxt,
    wsOut: g.wsOut,
    wsIn: g.wsIn,
    sndWnd: g.sndWnd,
    mss: g.mss,
    rcvMss: g.rcvMss,
    sackOk: g.sackOk,
    sndUna: g.sndUna,
    sndNxt: g.sndUna,
    sndMax: seqDiff(g.sndMax, g.sndUna) > 0 ? g.sndMax : g.sndUna,
    peekOff: 0,
    unconsumed: 0,
    moreData: true,
    // The socket's never-sent tail, then the guest data we had not written: both wait in our
    // queue for the socket (written as it takes them, with back-pressure: flushWrites).
    pending: [tail, g.pending].filter((d) => d.length > 0).map((data) => ({ data, owned: true })),
    pendingBytes: tail.length + g.pending.length,
  });
  const guestSide: FlowSide = {
    endpointAddr: addrText(f.family, guestB),
    endpointPort: g.guestPort,
    ourAddr: addrText(f.family, remoteB),
    ourPort: g.remotePort,
  };
  const sides: [FlowSide, FlowSide] = f.inbound
    ? [
        {
          endpointAddr: h.peerAddr,
          endpointPort: h.peerPort,
          ourAddr: h.localAddr,
          ourPort: h.localPort,
        },
        guestSide,
      ]
    : [
        guestSide,
        {
          endpointAddr: h.peerAddr,
          endpointPort: h.peerPort,
          ourAddr: guestSide.endpointAddr,
          ourPort: g.guestPort,
        },
      ];
  if (!register(s, c, sides, f.inbound)) return 'the flow table is full';
  return c;
}

/**
 * Imports flows exported by another translator (see the theory). A flow that cannot be
 * restored is left out (its socket closed while in repair mode) and reported.
 *
 * @throws BinderyError (Migrate) when the helper does not set or clear repair mode.
 */
export function importFlows(
  s: TcpCore,
  r: TcpRepair,
  flows: readonly TcpFlowState[],
): ImportResult {
  const failed: string[] = [];
  const name = (f: TcpFlowState) =>
    `${f.guest.guestAddr}:${f.guest.guestPort} → ${f.host.peerAddr}:${f.host.peerPort}`;
  const socks: (TcpSock | undefined)[] = flows.map((f) => {
    try {
      // TCP_MAXSEG before connect: the clamp the connection had (the repair options set it
      // only after connect, too late for the MSS the kernel computes there).
      return s.host.socket(f.family, f.host.mss);
    } catch (e) {
      failed.push(`${name(f)}: ${(e as Error).message}`);
      return undefined;
    }
  });
  const open = socks.filter((x): x is TcpSock => x !== undefined);
  if (open.length === 0) return { imported: 0, failed };
  const on = r.setRepair(open, RepairMode.On);
  if (on !== 0) {
    for (const x of open) s.host.close(x, false);
    throw new BinderyError(ErrorCode.Migrate, `cannot set TCP_REPAIR: ${on}`);
  }
  const restored: [Conn, TcpFlowState][] = [];
  flows.forEach((f, i) => {
    const sock = socks[i];
    if (sock === undefined) return;
    try {
      restoreHost(r, s, sock, f);
      const c = restoreConn(s, sock, f);
      if (typeof c === 'string') throw new Error(c);
      restored.push([c, f]);
    } catch (e) {
      failed.push(`${name(f)}: ${(e as Error).message}`);
      s.host.close(sock, false); // still in repair mode: nothing is sent
    }
  });
  if (restored.length === 0) return { imported: 0, failed };
  const off = r.setRepair(
    restored.map(([c]) => c.sock!),
    RepairMode.OffNoProbe,
  );
  if (off !== 0) {
    for (const [c] of restored) forget(s, c);
    throw new BinderyError(ErrorCode.Migrate, `cannot clear TCP_REPAIR: ${off}`);
  }
  s.frozen = false;
  for (const [c] of restored) {
    watch(s, c.sock!, c.flow!.id, WATCH_CONN);
    c.ackDue = true;
    markDirty(s, c);
  }
  scheduleProbes(
    s,
    r,
    restored.map(([c]) => c),
  );
  return { imported: restored.length, failed };
}

/** Window probes for restored sockets the peer has not answered yet (see the theory). */
function scheduleProbes(s: TcpCore, r: TcpRepair, conns: readonly Conn[]): void {
  // Bytes sent and not acknowledged (what the translator writes meanwhile waits unsent).
  const queued = (c: Conn): number => {
    if (c.sock === undefined || c.state !== 'established') return -1;
    const info = r.info(c.sock);
    return typeof info === 'number' ? -1 : info.sendQueue - info.notSent;
  };
  let waiting = conns.map((c) => [c, queued(c)] as const).filter(([, q]) => q > 0);
  let elapsed = 0;
  const next = (i: number): void => {
    if (i >= PROBE_MS.length || waiting.length === 0 || s.closed) return;
    const delay = PROBE_MS[i]! - elapsed;
    elapsed = PROBE_MS[i]!;
    s.deps.setTimer(() => {
      if (s.closed) return;
      // Still what was in flight at the import: nothing was acknowledged since.
      waiting = waiting.filter(([c, q]) => queued(c) === q);
      if (waiting.length === 0) return;
      const e = r.setRepair(
        waiting.map(([c]) => c.sock!),
        RepairMode.Off,
      );
      if (e !== 0) s.deps.log?.(`tcp: window probe after hand-over failed: ${e}`);
      next(i + 1);
    }, delay);
  };
  next(0);
}

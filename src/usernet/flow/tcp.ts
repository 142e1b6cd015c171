// TCP translation: the guest's TCP connections become ordinary host sockets of the pod, and forwarded host ports reach the guest.
//
// Theory of operation
// ===================
//
// Goal. Like passt (facts-passt §1.3) this is not a TCP stack: each guest connection is paired
// with one kernel socket of the pod (reached through the host seam, usernet/host/tcp.ts: the native shim, native/tcp.c,
// because net.Socket can neither peek at an offset nor drop bytes uncopied), and the translator
// only does what the guest's TCP needs to see a well-behaved peer — handshake,
// sequence/acknowledgment bookkeeping, windows, retransmission and teardown. Data is never
// reordered or rewritten.
//
// Opening (RFC 9293 §3.5).
// - Outbound: a guest SYN makes a flow and a non-blocking connect() to the mapped host address
//   (nat.ts: the gateway stands for the pod's loopback). The SYN-ACK goes to the guest only
//   when the connect succeeds; a refused or failed connect becomes RST+ACK, so the guest sees
//   "connection refused" at once. A repeated SYN while connecting is ignored; one after the
//   SYN-ACK gets the SYN-ACK again.
// - Inbound (-t): a host connection accepted on a forwarded port makes a flow and a SYN to the
//   guest (the host peer already sees an established connection); nothing is read from the host
//   socket before the guest's SYN-ACK. Host loopback peers appear to come from the --map-host-loopback
//   address. The SYN is resent with backoff, then the host connection is reset.
// - Options: our SYN/SYN-ACK carries MSS (MTU − IP − 20), SACK-permitted when the guest offered
//   it, and window scale WS_TO_GUEST when the guest offered scaling (RFC 7323 §2.2: both or
//   none). No timestamps (as passt). The ISN is RFC 6528's: a 4 µs clock plus a keyed hash of
//   the 4-tuple (SipHash-2-4 with a random key per translator, as passt).
//
// Guest → host. A segment at rcvNxt is queued for the socket as it is (a view of the frame, no
// copy); at the end of the batch each connection's queued payloads go out in one sendmsg. What
// the kernel does not take at once is copied and written when the socket signals room again.
// Old data is trimmed (retransmissions) and answered with an ACK; segments beyond rcvNxt inside
// the window are copied into an out-of-order list and answered at once with a duplicate ACK
// carrying SACK blocks (RFC 2018 §4), so the guest retransmits only the hole. The window we
// advertise is what may still wait in our own queue (RECV_BUFFER bytes less what waits there and
// out of order); its right edge never moves left (RFC 9293 §3.8.6.2.2). When a blocked queue
// drains a window update goes out. A guest FIN ends the socket's write side once the queue is
// written (half-close); a guest RST resets the host connection (SO_LINGER 0). ACKs go at the end
// of the batch for every second full segment, a FIN or a filled gap; a lone small segment's ACK
// waits ACK_DELAY_MS so that the reply (request/response traffic) carries it instead.
//
// Host → guest (passt's design, facts-passt §1.3). Bytes the guest has not acknowledged stay in
// the kernel's receive queue: they are peeked (MSG_PEEK at an offset, SO_PEEK_OFF) straight into
// the payload room of the frames that carry them — the only copy in user space — and dropped
// from the queue without a copy (MSG_TRUNC) when the guest acknowledges them. So the host
// socket's own receive window is our flow control towards the host peer, and memory per
// connection is the kernel's. One peek fills up to PEEK_SEGMENTS segments of at most the
// guest's MSS, never beyond the guest's window (scaled by its shift); PSH marks the last of a
// peek. On a link that offloads checksums (an offloading tap) the payload is not summed at all,
// and on a link that is done with frames when send returns (a tap) the frames come from a reused
// arena (tcp/frame.ts). A peek that finds the end of the stream becomes a FIN after the data; a
// host error (reset, unreachable, keepalive timeout) becomes an RST. Sockets are watched
// edge-triggered through one epoll set (native/tcp.c): a readiness event marks that more may be
// queued, and every ACK or window update from the guest tries again, so nothing waits for an
// edge that already passed.
//
// Loss recovery (RFC 6298, RFC 5681 §3.2, RFC 6582). One timed segment per RTT gives SRTT and
// RTTVAR (Karn: never from a retransmitted range); RTO = max(RTO_MIN, SRTT + 4·RTTVAR), 1 s
// before the first sample, doubled per timeout up to RTO_MAX. A timeout rewinds to the first
// unacknowledged byte and sends again (go-back-N within the window); after MAX_RETRIES the
// connection is reset both ways. The third duplicate ACK retransmits the first unacknowledged
// segment and starts recovery until everything sent so far is acknowledged; each partial ACK
// retransmits the next hole (NewReno). There is no congestion control: the peer is a guest on
// the same machine and the window bounds what is in flight.
//
// Timers. Each connection has at most one deadline (retransmission, SYN retry or zero-window
// probe); one translator tick (TICK_MS) serves every connection that has one, so ACKs never
// re-arm OS timers. Zero window: a probe (one byte past what was sent is not ours to invent, so
// an ACK with seq = sndNxt − 1, which the guest must answer with its window) at RTO intervals.
// Keepalive: after KEEPALIVE_MS without a segment from the guest an established connection gets
// a keepalive probe; KEEPALIVE_PROBES unanswered probes reset it (dead guest). Host sockets use
// SO_KEEPALIVE. Any connection idle for INACTIVITY_MS is reset (flow table expiry; passt: 2 h).
//
// Teardown. When both directions have finished (guest FIN received and our FIN acknowledged)
// the socket is closed and the flow lingers LINGER_MS to re-acknowledge a retransmitted FIN,
// then goes. `linkDown()` (the guest went away) and `close()` reset every host connection.
//
// Limits: the shared flow table bounds connections (full → RST to the guest's SYN); memory per
// connection is the kernel's socket buffers plus at most RECV_BUFFER bytes of our own (guest
// data the socket did not take yet, and out-of-order data, both within the window we offered).
import { randomBytes } from 'node:crypto';
import type { Flow, FlowSide } from './table.js';
import type { FlowDeps } from './deps.js';
import { guestToHost, hostToGuestSource } from './nat.js';
import {
  buildSegment,
  dataOffset,
  finishDataSegment,
  FrameArena,
  retarget,
  segmentTemplate,
  type SegmentHeader,
  type SegmentTemplate,
  type SynOptions,
} from './tcp/frame.js';
import {
  Errno,
  errnoName,
  TcpEvent,
  TcpWatch,
  type Accepted,
  type TcpHost,
  type TcpPoller,
  type TcpSock,
} from '../host/tcp.js';
import { BinderyError, ErrorCode } from '../../errors.js';
import { TcpFlag, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqLe, seqGe } from '../../wire/seq.js';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../wire/common.js';
import { sipKey, siphash24, type SipKey } from '../../wire/siphash.js';

/** Bytes of guest data that may wait in our own queue (the window we offer the guest). */
export const RECV_BUFFER = 4 << 20;
/** Our window shift (window up to 2^16 << 7 = 8 MiB). */
export const WS_TO_GUEST = 7;
/** Most segments one peek of a host socket fills (passt: 128 frames per batch). */
export const PEEK_SEGMENTS = 128;
/**
 * Most bytes one flush peeks from one connection before the others get their turn. With 4 MiB
 * one connection's burst held the guest and 4-stream host→guest throughput halved; 512 KiB cost
 * a fifth of single-stream throughput (bench/tcp.ts, this 2-core machine).
 */
export const PUMP_BYTES = 1 << 20;
/** Initial and minimum retransmission timeouts (RFC 6298 §2; Linux's minimum). */
export const RTO_INIT_MS = 1000;
export const RTO_MIN_MS = 200;
export const RTO_MAX_MS = 60_000;
/** Timeouts in a row before the connection is reset (passt: TCP_MAX_RETRIES). */
export const MAX_RETRIES = 7;
/** SYN retries towards the guest (Linux tcp_syn_retries). */
export const SYN_RETRIES = 6;
/** Keepalive probe to the guest after this long without a segment from it (passt: 30 s). */
export const KEEPALIVE_MS = 30_000;
/** Unanswered keepalive probes before a dead guest's connection is reset. */
export const KEEPALIVE_PROBES = 8;
/** Idle connections are reset after this long (passt: 7200 s). */
export const INACTIVITY_MS = 7_200_000;
/** A finished connection stays this long to re-acknowledge retransmitted FINs. */
export const LINGER_MS = 2_000;
/** The timer tick serving every connection's deadline. */
export const TICK_MS = 10;
/** How long an ACK for less than two segments waits for data to ride on (RFC 9293 allows 500 ms). */
export const ACK_DELAY_MS = 1;
/** MSS assumed when the guest's SYN has none (RFC 9293 §3.7.1). */
const DEFAULT_MSS = 536;
/** Connections accepted per readiness event of a listening socket. */
const ACCEPT_BATCH = 64;
/** Settled once: `.then` on it queues a plain microtask. */
const RESOLVED = Promise.resolve();
/** What every connected socket is watched for (edge-triggered, see the theory of operation). */
const WATCH_CONN = TcpWatch.In | TcpWatch.Out | TcpWatch.RdHup | TcpWatch.Edge;

/** Timers the translator needs beyond FlowDeps. */
export interface TcpDeps extends FlowDeps {
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Sends frames; `partialChecksum` when they were built with partial checksums. */
  toGuest(frames: Uint8Array[], partialChecksum?: boolean): void;
  /** The link takes partial TCP checksums (GuestLink.checksumOffload). */
  readonly checksumOffload?: boolean;
  /** Frames may be reused once toGuest returns (GuestLink.consumesOnSend). */
  readonly framesReusable?: boolean;
}

/** TCP translator counters. */
export interface TcpCounters {
  /** Connections opened from the guest (SYN-ACK sent). */
  outbound: number;
  /** Connections accepted on forwarded ports. */
  inbound: number;
  /** Guest SYNs answered with RST: connect refused or failed, or not forwardable. */
  refused: number;
  /** Segments from the guest (after the daemon's checks). */
  segmentsIn: number;
  /** Segments sent to the guest. */
  segmentsOut: number;
  /** Payload bytes guest → host and host → guest. */
  bytesFromGuest: number;
  bytesToGuest: number;
  /** Segments from the guest stored out of order. */
  outOfOrder: number;
  /** Duplicate (already received) guest segments. */
  duplicates: number;
  /** Segments outside the window, or with no flow (answered by RST). */
  dropped: number;
  /** Segments resent after a timeout, and fast retransmits after duplicate ACKs. */
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  /** RSTs sent to the guest, and host connections reset because of the guest. */
  resetsToGuest: number;
  resetsToHost: number;
  /** Window updates sent when a blocked host socket took our queue. */
  windowUpdates: number;
  zeroWindowProbes: number;
  keepalives: number;
  /** The flow table was full. */
  tableFull: number;
  /** Peeks of host sockets (each fills up to PEEK_SEGMENTS segments). */
  peeks: number;
  /** Writes to host sockets the kernel took only in part (the rest waited in our queue). */
  writesBlocked: number;
}

type State =
  /** Outbound: connecting to the host; SYN-ACK not sent yet. */
  | 'connecting'
  /** Inbound: SYN sent to the guest, waiting for its SYN-ACK. */
  | 'syn-sent'
  /** Outbound: SYN-ACK sent, waiting for the guest's ACK. */
  | 'syn-rcvd'
  | 'established'
  /** Both directions finished, or reset: lingering until the flow is removed. */
  | 'closed';

/** Guest data waiting for the host socket: a view of a frame until it is copied (`owned`). */
interface Pending {
  data: Uint8Array;
  owned: boolean;
}

interface Conn {
  readonly key: string;
  /** Reported with the socket's readiness events. */
  readonly id: number;
  readonly family: 4 | 6;
  readonly tpl: SegmentTemplate;
  /** The host socket; undefined once closed. */
  sock: TcpSock | undefined;
  readonly inbound: boolean;
  flow: Flow<Conn> | undefined;
  state: State;
  // Guest → host (we receive).
  /** The guest's initial sequence number. */
  irs: number;
  rcvNxt: number;
  /** Right edge of the window last advertised. */
  rcvEdge: number;
  /** Shift applied to windows we advertise (0 without scaling). */
  wsOut: number;
  /** Out-of-order data, sorted by seq, non-overlapping. */
  ooo: { seq: number; data: Uint8Array; fin: boolean }[];
  oooBytes: number;
  guestFin: boolean;
  /** Our write side is shut (the guest's FIN reached the host). */
  shut: boolean;
  sackOk: boolean;
  ackDue: boolean;
  /** The acknowledgment number of the last segment sent to the guest. */
  lastAckSent: number;
  /** Largest payload seen from the guest (its effective MSS, for the ACK-every-two rule). */
  rcvMss: number;
  /** When a delayed ACK is due (ms), while the connection is in `delayed`. */
  ackAt: number;
  /** Guest data the host socket has not taken yet, in order. */
  pending: Pending[];
  pendingBytes: number;
  /** A write was partial: the window shrank until the socket takes the rest. */
  writeBlocked: boolean;
  // Host → guest (we send).
  readonly iss: number;
  sndUna: number;
  sndNxt: number;
  /** Highest sequence sent (sndNxt can rewind below it after a timeout). */
  sndMax: number;
  /** The guest's window in bytes, and its shift. */
  sndWnd: number;
  wsIn: number;
  mss: number;
  /** The socket's peek offset as we last left it (bytes past the head of its queue). */
  peekOff: number;
  /** Bytes the guest acknowledged that are still at the head of the socket's queue. */
  unconsumed: number;
  /** The socket may hold bytes past what was peeked (a readiness event, or a peek cut short). */
  moreData: boolean;
  /** The socket reported the peer's FIN (or a hang-up): its end is in the queue. */
  hostFinSignalled: boolean;
  /** The host's stream ended at `finSeq` (a peek found its end). */
  hostEof: boolean;
  finSeq: number;
  finAcked: boolean;
  dupAcks: number;
  /** End of the range being recovered (NewReno), or undefined. */
  recover: number | undefined;
  rto: number;
  srtt: number | undefined;
  rttvar: number;
  rttSeq: number | undefined;
  rttAt: number;
  retries: number;
  /** When the retransmission / SYN / probe timer fires (ms), or undefined. */
  deadline: number | undefined;
  lastGuestMs: number;
  keepaliveSent: number;
  lastKeepaliveMs: number;
  /** Guest address and port, for logs and the table. */
  readonly guestPort: number;
  readonly remotePort: number;
}

/** A forwarded (-t) port's listening socket. */
interface Listener {
  readonly kind: 'listener';
  readonly sock: TcpSock;
  readonly guestPort: number;
}

const addrText = (family: 4 | 6, b: Uint8Array) => (family === 4 ? formatIpv4(b) : formatIpv6(b));
const addrBytes = (family: 4 | 6, s: string) => (family === 4 ? parseIpv4(s) : parseIpv6(s));

/** A compact map key for a guest-side 4-tuple, built without formatting addresses. */
function connKey(src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number): string {
  let k = '';
  for (let i = 0; i < src.length; i += 4)
    k += (((src[i]! << 24) | (src[i + 1]! << 16) | (src[i + 2]! << 8) | src[i + 3]!) >>> 0) + ',';
  k += '>';
  for (let i = 0; i < dst.length; i += 4)
    k += (((dst[i]! << 24) | (dst[i + 1]! << 16) | (dst[i + 2]! << 8) | dst[i + 3]!) >>> 0) + ',';
  return k + srcPort + ':' + dstPort;
}

/** Translates the guest's TCP to host sockets and back (see the theory of operation above). */
export class TcpTranslator {
  readonly counters: TcpCounters = {
    outbound: 0,
    inbound: 0,
    refused: 0,
    segmentsIn: 0,
    segmentsOut: 0,
    bytesFromGuest: 0,
    bytesToGuest: 0,
    outOfOrder: 0,
    duplicates: 0,
    dropped: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    resetsToGuest: 0,
    resetsToHost: 0,
    windowUpdates: 0,
    zeroWindowProbes: 0,
    keepalives: 0,
    tableFull: 0,
    peeks: 0,
    writesBlocked: 0,
  };
  private readonly conns = new Map<string, Conn>();
  /** Connections and listening sockets by the id their readiness events carry. */
  private readonly byId = new Map<number, Conn | Listener>();
  private nextId = 1;
  private poller: TcpPoller | undefined;
  private readonly host: TcpHost;
  private readonly listeners: Listener[] = [];
  private readonly secret: SipKey;
  /** The 4-tuple hashed for an ISN (addresses and ports; 36 bytes for IPv6). */
  private readonly tuple = new Uint8Array(36);
  /** Connections with work for the next flush (ACK due, data to send or write). */
  private dirty = new Set<Conn>();
  private flushQueued = false;
  private out: Uint8Array[] = [];
  /** Connections whose ACK is delayed, and the one timer that sends them. */
  private readonly delayed = new Set<Conn>();
  private ackTimer: unknown;
  /** Connections with a deadline, and the tick timer serving them. */
  private readonly timed = new Set<Conn>();
  private tick: unknown;
  private closed = false;
  /** Build segments with partial checksums (the link offloads them). */
  private readonly partial: boolean;
  /** Reused frame memory when the link is done with frames on return. */
  private readonly arena: FrameArena | undefined;
  /** (start, length) pairs of one peek's payload regions. */
  private readonly iov = new Uint32Array(2 * PEEK_SEGMENTS);
  private readonly frameStarts = new Uint32Array(PEEK_SEGMENTS);

  constructor(
    private readonly deps: TcpDeps,
    secret: Uint8Array = randomBytes(16),
  ) {
    this.secret = sipKey(secret);
    this.host = deps.host.tcp;
    this.partial = deps.checksumOffload === true;
    this.arena = deps.framesReusable === true ? new FrameArena() : undefined;
  }

  private build(
    t: SegmentTemplate,
    h: SegmentHeader,
    syn?: SynOptions,
    sack?: readonly (readonly [number, number])[],
  ): Uint8Array {
    return buildSegment(t, h, 0, undefined, syn, sack, this.arena?.alloc);
  }

  /** A fresh id for readiness events (never 0). */
  private newId(): number {
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0 || 1;
    return id;
  }

  /** Live connections. */
  get size(): number {
    return this.conns.size;
  }

  /** The epoll set of host sockets, opened on first use. */
  private watch(sock: TcpSock, id: number, mask: number): void {
    if (this.poller === undefined) {
      const p = this.host.poller();
      p.onError((e) => this.deps.log?.(`tcp: host socket polling failed: ${e.message}`));
      p.onEvents((ev, n) => this.onEvents(ev, n));
      this.poller = p;
    }
    this.poller.watch(sock, id, mask);
  }

  // ---------------------------------------------------------------------------------------------
  // From the guest

  /**
   * Handles one TCP segment from the guest (the daemon has checked lengths and the checksum).
   *
   * @param family - 4 or 6
   * @param src - the guest's address (4 or 16 bytes)
   * @param dst - the destination as the guest wrote it
   * @param seg - the parsed header
   * @param payload - the segment's payload (a view into the frame; kept only until the end of
   *   the batch unless copied)
   */
  fromGuest(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    seg: TcpRepr,
    payload: Uint8Array,
  ): void {
    if (this.closed) return;
    this.counters.segmentsIn++;
    const key = connKey(src, dst, seg.srcPort, seg.dstPort);
    let c = this.conns.get(key);
    if (c && c.state === 'closed' && (seg.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) {
      // A new connection reusing the 4-tuple of one that is lingering (RFC 6191 accepts it).
      this.forget(c);
      c = undefined;
    }
    if (!c) {
      if ((seg.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN) {
        this.open(family, src, dst, seg, key);
        return;
      }
      this.counters.dropped++;
      this.resetUnknown(family, src, dst, seg, payload.length);
      return;
    }
    c.lastGuestMs = this.deps.now();
    c.keepaliveSent = 0;
    if (c.flow) c.flow.lastActivityMs = c.lastGuestMs;
    this.segment(c, seg, payload);
  }

  private segment(c: Conn, seg: TcpRepr, payload: Uint8Array): void {
    const f = seg.flags;
    if (f & TcpFlag.RST) {
      // RFC 9293 §3.10.7.4 / RFC 5961 §3.2: accept a reset whose seq is in the window.
      const inWin =
        c.state === 'syn-sent'
          ? (f & TcpFlag.ACK) !== 0 && seg.ack === seqAdd(c.iss, 1)
          : seqGe(seg.seq, c.rcvNxt) && seqLe(seg.seq, c.rcvEdge);
      if (inWin) this.resetHost(c);
      return;
    }
    if (f & TcpFlag.SYN) return this.syn(c, seg);
    if (!(f & TcpFlag.ACK)) {
      this.counters.dropped++;
      return;
    }
    if (c.state === 'closed') {
      // Lingering: re-acknowledge whatever the guest repeats (its FIN, typically).
      if (payload.length > 0 || f & TcpFlag.FIN) this.sendAck(c);
      return;
    }
    if (c.state === 'syn-rcvd') {
      if (seg.ack !== seqAdd(c.iss, 1)) {
        this.counters.dropped++;
        this.segmentRst(c.tpl, seg.ack, 0, TcpFlag.RST);
        return;
      }
      c.state = 'established';
      c.sndUna = seg.ack;
      c.retries = 0;
      this.setDeadline(c, undefined);
    } else if (c.state !== 'established') {
      this.counters.dropped++;
      return;
    }
    this.ack(c, seg, payload.length);
    if (payload.length > 0 || f & TcpFlag.FIN)
      this.data(c, seg.seq, payload, (f & TcpFlag.FIN) !== 0);
    this.markDirty(c);
  }

  /** A SYN on an existing connection: the guest's SYN-ACK (inbound) or a repeated SYN. */
  private syn(c: Conn, seg: TcpRepr): void {
    const f = seg.flags;
    if (c.state === 'syn-sent') {
      if (!(f & TcpFlag.ACK) || seg.ack !== seqAdd(c.iss, 1)) {
        this.counters.dropped++;
        return;
      }
      this.takeSynOptions(c, seg);
      c.irs = seg.seq;
      c.rcvNxt = seqAdd(seg.seq, 1);
      c.rcvEdge = c.rcvNxt;
      c.sndUna = seg.ack;
      c.sndNxt = c.sndMax = seg.ack;
      c.sndWnd = seg.window; // never scaled on a SYN (RFC 7323 §2.2)
      c.state = 'established';
      c.retries = 0;
      c.rto = RTO_INIT_MS;
      this.setDeadline(c, undefined);
      this.counters.inbound++;
      c.ackDue = true;
      c.moreData = true; // the host may have written before the guest answered
      this.markDirty(c);
      return;
    }
    if (f & TcpFlag.ACK) {
      this.counters.dropped++;
      return;
    }
    // A repeated SYN: the SYN-ACK was lost (answer again) or the connect is still pending.
    if (c.state === 'syn-rcvd' && seg.seq === c.irs) this.sendSynAck(c);
    else if (c.state === 'established' || c.state === 'closed') this.sendAck(c); // RFC 5961 §4
  }

  /** Bytes of host data between sndUna and the end of what is known to be queued. */
  private knownData(c: Conn): number {
    return seqDiff(c.hostEof ? c.finSeq : c.sndMax, c.sndUna);
  }

  /** Processes the acknowledgment and window of a guest segment (RFC 9293 §3.10.7.4, fifth). */
  private ack(c: Conn, seg: TcpRepr, payloadLen: number): void {
    const ack = seg.ack;
    if (seqGt(ack, c.sndMax)) {
      // Acknowledges something never sent: answer with an ACK and ignore it.
      this.sendAck(c);
      return;
    }
    const wnd = seg.window << c.wsIn;
    if (seqGt(ack, c.sndUna)) {
      const acked = seqDiff(ack, c.sndUna);
      const dataAcked = Math.min(acked, this.knownData(c));
      c.unconsumed += dataAcked; // dropped from the socket before its next peek
      if (c.hostEof && acked > dataAcked) c.finAcked = true;
      c.sndUna = ack;
      if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
      c.dupAcks = 0;
      c.retries = 0;
      if (c.rttSeq !== undefined && seqGe(ack, c.rttSeq)) {
        this.rttSample(c, this.deps.now() - c.rttAt);
        c.rttSeq = undefined;
      }
      if (c.recover !== undefined) {
        if (seqGe(ack, c.recover)) c.recover = undefined;
        else this.retransmitOne(c); // partial ACK: the next hole (RFC 6582 §3.2 step 3)
      }
      c.sndWnd = wnd;
      this.setDeadline(c, c.sndUna !== c.sndMax ? this.deps.now() + c.rto : undefined);
      if (c.finAcked) this.maybeFinished(c);
      return;
    }
    // ack == sndUna: a duplicate ACK when it carries nothing and the window did not move
    // (RFC 5681 §2), or a window update.
    if (
      ack === c.sndUna &&
      payloadLen === 0 &&
      !(seg.flags & TcpFlag.FIN) &&
      wnd === c.sndWnd &&
      c.sndMax !== c.sndUna
    ) {
      c.dupAcks++;
      if (c.dupAcks === 3 && c.recover === undefined) {
        this.counters.fastRetransmits++;
        c.recover = c.sndMax;
        this.retransmitOne(c);
      }
      return;
    }
    if (ack === c.sndUna) c.sndWnd = wnd;
  }

  /** Guest data (and FIN) at `seq`. */
  private data(c: Conn, seq: number, payload: Uint8Array, fin: boolean): void {
    if (c.guestFin) {
      c.ackDue = true;
      return;
    }
    let s = seq;
    let p = payload;
    const old = seqDiff(c.rcvNxt, s);
    if (old > 0) {
      if (old >= p.length && !(fin && old === p.length)) {
        // Entirely old: a retransmission or a keepalive. Acknowledge at once.
        this.counters.duplicates++;
        this.sendAck(c);
        return;
      }
      p = p.subarray(Math.min(old, p.length));
      s = c.rcvNxt;
    }
    // Trim what lies beyond the window we offered (RFC 9293 §3.10.7.4, first check).
    const room = seqDiff(c.rcvEdge, s);
    if (room < p.length) {
      if (room <= 0 && p.length > 0) {
        this.counters.dropped++;
        this.sendAck(c);
        return;
      }
      p = p.subarray(0, Math.max(0, room));
      fin = false;
    }
    if (s !== c.rcvNxt) {
      this.storeOutOfOrder(c, s, p, fin);
      this.sendAck(c); // duplicate ACK with SACK blocks
      return;
    }
    const fillsGap = c.ooo.length > 0;
    if (p.length > c.rcvMss) c.rcvMss = p.length;
    this.deliver(c, p, false, fin);
    while (c.ooo.length > 0 && !c.guestFin) {
      const o = c.ooo[0]!;
      const skip = seqDiff(c.rcvNxt, o.seq);
      if (skip < 0) break;
      c.ooo.shift();
      c.oooBytes -= o.data.length;
      if (skip >= o.data.length && !(o.fin && skip === o.data.length)) continue;
      this.deliver(c, o.data.subarray(Math.min(skip, o.data.length)), true, o.fin);
    }
    // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: acknowledge at once every second full segment and a
    // segment that fills a gap; otherwise wait ACK_DELAY_MS for data going back to carry the ACK
    // (a request/response exchange then costs no pure ACK at all). A FIN waits too: the host
    // peer's own FIN, which usually follows at once, carries it.
    if (fillsGap || seqDiff(c.rcvNxt, c.lastAckSent) >= 2 * c.rcvMss) c.ackDue = true;
    else this.delayAck(c);
  }

  /** Holds the ACK back ACK_DELAY_MS from the first unacknowledged segment (emit() cancels it). */
  private delayAck(c: Conn): void {
    if (this.delayed.has(c)) return;
    c.ackAt = this.deps.now() + ACK_DELAY_MS;
    this.delayed.add(c);
    if (this.ackTimer === undefined && !this.closed) this.armAckTimer(ACK_DELAY_MS);
  }

  private armAckTimer(ms: number): void {
    this.ackTimer = this.deps.setTimer(() => this.onAckTimer(), ms);
  }

  private onAckTimer(): void {
    this.ackTimer = undefined;
    const now = this.deps.now();
    let next = Infinity;
    for (const d of this.delayed) {
      if (d.ackAt > now) {
        next = Math.min(next, d.ackAt);
        continue;
      }
      this.delayed.delete(d);
      if (d.state !== 'connecting' && d.state !== 'syn-sent' && d.lastAckSent !== d.rcvNxt)
        this.sendAck(d);
    }
    if (this.delayed.size > 0 && !this.closed) this.armAckTimer(Math.max(0, next - now));
    this.sendOut();
  }

  /** Queues in-order guest data for the host socket (written at the end of the batch). */
  private deliver(c: Conn, p: Uint8Array, owned: boolean, fin: boolean): void {
    if (p.length > 0) {
      c.pending.push({ data: p, owned });
      c.pendingBytes += p.length;
      c.rcvNxt = seqAdd(c.rcvNxt, p.length);
      this.counters.bytesFromGuest += p.length;
      if (c.flow) {
        c.flow.bytesIn += p.length;
        c.flow.packetsIn++;
      }
    }
    if (fin) {
      c.rcvNxt = seqAdd(c.rcvNxt, 1);
      c.guestFin = true;
      c.ooo = [];
      c.oooBytes = 0;
    }
  }

  private storeOutOfOrder(c: Conn, seq: number, p: Uint8Array, fin: boolean): void {
    if (p.length === 0 && !fin) return;
    this.counters.outOfOrder++;
    const end = seqAdd(seq, p.length);
    let i = 0;
    while (i < c.ooo.length && seqLt(c.ooo[i]!.seq, seq)) i++;
    // Drop if an earlier block already covers it; trim against the next block.
    const prev = c.ooo[i - 1];
    if (prev && seqGe(seqAdd(prev.seq, prev.data.length), end) && !fin) return;
    const next = c.ooo[i];
    if (next && next.seq === seq && next.data.length >= p.length) return;
    const data = Uint8Array.prototype.slice.call(p); // the frame is not ours to keep
    c.ooo.splice(i, 0, { seq, data, fin });
    c.oooBytes += data.length;
  }

  /** Up to three SACK blocks from the out-of-order list (merged), for the guest. */
  private sackBlocks(c: Conn): [number, number][] | undefined {
    if (!c.sackOk || c.ooo.length === 0) return undefined;
    const blocks: [number, number][] = [];
    for (const o of c.ooo) {
      const l = o.seq;
      const r = seqAdd(o.seq, o.data.length);
      const last = blocks[blocks.length - 1];
      if (last && seqGe(last[1], l)) {
        if (seqGt(r, last[1])) last[1] = r;
      } else blocks.push([l, r]);
    }
    return blocks.slice(0, 3);
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  private isn(src: Uint8Array, dst: Uint8Array, sp: number, dp: number): number {
    const b = this.tuple;
    b.set(src, 0);
    b.set(dst, src.length);
    const o = src.length + dst.length;
    b[o] = sp >>> 8;
    b[o + 1] = sp & 0xff;
    b[o + 2] = dp >>> 8;
    b[o + 3] = dp & 0xff;
    const [f] = siphash24(this.secret, b.subarray(0, o + 4));
    return (f + Math.floor(this.deps.now() * 250)) >>> 0; // RFC 6528 §3: M is a 4 µs timer
  }

  private takeSynOptions(c: Conn, seg: TcpRepr): void {
    const o = seg.options;
    const ipHdr = c.family === 4 ? 20 : 40;
    c.mss = Math.max(64, Math.min(o.mss ?? DEFAULT_MSS, this.deps.cfg.mtu - ipHdr - 20));
    if (o.windowScale !== undefined) {
      c.wsIn = o.windowScale;
      c.wsOut = WS_TO_GUEST;
    } else {
      c.wsIn = 0;
      c.wsOut = 0;
    }
    c.sackOk = o.sackPermitted === true;
  }

  private newConn(
    key: string,
    family: 4 | 6,
    guest: Uint8Array,
    remote: Uint8Array,
    guestPort: number,
    remotePort: number,
    sock: TcpSock,
    inbound: boolean,
  ): Conn {
    const mac = this.deps.guestMac() ?? new Uint8Array(6).fill(0xff);
    const iss = this.isn(guest, remote, guestPort, remotePort);
    const now = this.deps.now();
    return {
      key,
      id: this.newId(),
      family,
      tpl: segmentTemplate(
        family,
        this.deps.ourMac,
        mac,
        remote,
        guest,
        remotePort,
        guestPort,
        this.partial,
      ),
      sock,
      inbound,
      flow: undefined,
      state: inbound ? 'syn-sent' : 'connecting',
      irs: 0,
      rcvNxt: 0,
      rcvEdge: 0,
      wsOut: 0,
      ooo: [],
      oooBytes: 0,
      guestFin: false,
      shut: false,
      sackOk: false,
      ackDue: false,
      lastAckSent: 0,
      rcvMss: DEFAULT_MSS,
      ackAt: 0,
      pending: [],
      pendingBytes: 0,
      writeBlocked: false,
      iss,
      sndUna: iss,
      sndNxt: seqAdd(iss, 1),
      sndMax: seqAdd(iss, 1),
      sndWnd: 0,
      wsIn: 0,
      mss: DEFAULT_MSS,
      peekOff: 0,
      unconsumed: 0,
      moreData: false,
      hostFinSignalled: false,
      hostEof: false,
      finSeq: 0,
      finAcked: false,
      dupAcks: 0,
      recover: undefined,
      rto: RTO_INIT_MS,
      srtt: undefined,
      rttvar: 0,
      rttSeq: undefined,
      rttAt: 0,
      retries: 0,
      deadline: undefined,
      lastGuestMs: now,
      keepaliveSent: 0,
      lastKeepaliveMs: now,
      guestPort,
      remotePort,
    };
  }

  private register(c: Conn, sides: readonly [FlowSide, FlowSide], inbound: boolean): boolean {
    const pif = inbound ? (['host', 'guest'] as const) : (['guest', 'host'] as const);
    const flow = this.deps.table.insert('tcp', pif, sides, c, this.deps.now(), INACTIVITY_MS);
    if (!flow) {
      this.counters.tableFull++;
      return false;
    }
    c.flow = flow;
    this.conns.set(c.key, c);
    this.byId.set(c.id, c);
    return true;
  }

  /** A guest SYN for a new connection: connect on the host, answer when that finishes. */
  private open(family: 4 | 6, src: Uint8Array, dst: Uint8Array, seg: TcpRepr, key: string): void {
    const dstText = addrText(family, dst);
    const target = guestToHost(
      this.deps.cfg,
      this.deps.hostResolvers,
      family,
      dstText,
      seg.dstPort,
    );
    const rstSyn = () => {
      this.counters.refused++;
      this.segmentRst(
        segmentTemplate(
          family,
          this.deps.ourMac,
          this.deps.guestMac() ?? new Uint8Array(6).fill(0xff),
          dst,
          src,
          seg.dstPort,
          seg.srcPort,
          this.partial,
        ),
        0,
        seqAdd(seg.seq, 1),
        TcpFlag.RST | TcpFlag.ACK,
      );
    };
    if (!target) return rstSyn();
    let sock: TcpSock;
    try {
      sock = this.host.socket(family);
    } catch (e) {
      this.deps.log?.(`tcp: no socket for a guest connection: ${(e as Error).message}`);
      return rstSyn();
    }
    const c = this.newConn(
      key,
      family,
      src.slice(),
      dst.slice(),
      seg.srcPort,
      seg.dstPort,
      sock,
      false,
    );
    this.takeSynOptions(c, seg);
    c.irs = seg.seq;
    c.rcvNxt = seqAdd(seg.seq, 1);
    c.rcvEdge = c.rcvNxt;
    c.sndWnd = seg.window;
    const guestText = addrText(family, src);
    const sides: [FlowSide, FlowSide] = [
      {
        endpointAddr: guestText,
        endpointPort: seg.srcPort,
        ourAddr: dstText,
        ourPort: seg.dstPort,
      },
      // The host side's local address is the kernel's choice: the guest's stands in for it.
      {
        endpointAddr: target.addr,
        endpointPort: target.port,
        ourAddr: guestText,
        ourPort: seg.srcPort,
      },
    ];
    if (!this.register(c, sides, false)) {
      this.host.close(sock, false);
      c.sock = undefined;
      return rstSyn();
    }
    const rc = this.host.connect(sock, family, target.addr, target.port);
    if (rc !== 0 && rc !== Errno.EINPROGRESS) {
      // Refused at once (no route, no address): the guest learns it the same way.
      this.counters.refused++;
      this.segmentRst(c.tpl, 0, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
      this.finish(c);
      return;
    }
    this.watch(sock, c.id, WATCH_CONN);
    if (rc === 0) this.connected(c);
  }

  /** The host connect finished: the guest gets its SYN-ACK. */
  private connected(c: Conn): void {
    c.state = 'syn-rcvd';
    this.counters.outbound++;
    this.sendSynAck(c);
  }

  private sendSynAck(c: Conn): void {
    this.emit(
      c,
      this.build(
        c.tpl,
        { seq: c.iss, ack: c.rcvNxt, flags: TcpFlag.SYN | TcpFlag.ACK, window: this.synWindow() },
        this.synOptions(c, c.wsOut !== 0),
      ),
    );
    c.rcvEdge = seqAdd(c.rcvNxt, this.synWindow());
    this.setDeadline(c, this.deps.now() + c.rto);
  }

  private synWindow(): number {
    return Math.min(0xffff, RECV_BUFFER);
  }

  private synOptions(c: Conn, scale: boolean): SynOptions {
    const ipHdr = c.family === 4 ? 20 : 40;
    return {
      mss: Math.min(0xffff, this.deps.cfg.mtu - ipHdr - 20),
      sackPermitted: c.inbound || c.sackOk,
      ...(scale ? { windowScale: WS_TO_GUEST } : {}),
    };
  }

  /**
   * Inbound forwarding: listens on every host port `p` with portMap[p] ≠ 0 and connects each
   * accepted connection to that guest port.
   *
   * @param portMap - from resolvePortMap (65536 entries)
   * @param bindAddr - host address to bind (default '::', IPv4 and IPv6)
   * @returns when every port listens; rejects with the first error (a BinderyError whose
   *   message reads like Node's: "listen EADDRINUSE: address already in use 127.0.0.1:8080")
   */
  async listen(portMap: Uint16Array, bindAddr?: string): Promise<void> {
    const host = bindAddr ?? '::';
    for (let p = 1; p < portMap.length && p < 65536; p++) {
      const guestPort = portMap[p] ?? 0;
      if (guestPort === 0) continue;
      let sock: TcpSock;
      try {
        [sock] = this.host.listen(host, p, 1024);
      } catch (e) {
        const errno = (e as { errno?: string }).errno ?? 'EINVAL';
        const where = host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
        throw new BinderyError(
          ErrorCode.Syscall,
          `listen ${errno}: ${(e as Error).message.replace(/^.*\((.*)\)$/, '$1').toLowerCase()} ${where}`,
          { cause: e },
        );
      }
      const l: Listener = { kind: 'listener', sock, guestPort };
      const id = this.newId();
      this.listeners.push(l);
      this.byId.set(id, l);
      this.watch(sock, id, TcpWatch.In);
    }
  }

  private acceptAll(l: Listener): void {
    for (let i = 0; i < ACCEPT_BATCH && !this.closed; i++) {
      const a = this.host.accept(l.sock);
      if (typeof a === 'number') {
        if (a !== Errno.EAGAIN) this.deps.log?.(`tcp: accept failed: ${errnoName(a)}`);
        return;
      }
      this.accept(a, l.guestPort);
    }
  }

  private accept(a: Accepted, guestPort: number): void {
    const peer = a.peerAddr;
    const family: 4 | 6 = peer.includes(':') ? 6 : 4;
    const fc = family === 4 ? this.deps.cfg.v4 : this.deps.cfg.v6;
    const guest = fc ? addrBytes(family, fc.guestAddr) : undefined;
    const remoteText = hostToGuestSource(this.deps.cfg, family, peer);
    const remote = addrBytes(family, remoteText);
    const remotePort = a.peerPort;
    const reject = () => this.host.close(a.sock, true);
    if (this.closed || !guest || !remote || remotePort === 0) return reject();
    const key = connKey(guest, remote, guestPort, remotePort);
    if (this.conns.has(key)) return reject();
    const c = this.newConn(key, family, guest, remote, guestPort, remotePort, a.sock, true);
    c.mss = Math.min(this.deps.cfg.mtu - (family === 4 ? 40 : 60), 0xffff);
    const guestText = addrText(family, guest);
    const sides: [FlowSide, FlowSide] = [
      {
        endpointAddr: peer,
        endpointPort: remotePort,
        ourAddr: a.localAddr,
        ourPort: a.localPort,
      },
      {
        endpointAddr: guestText,
        endpointPort: guestPort,
        ourAddr: remoteText,
        ourPort: remotePort,
      },
    ];
    if (!this.register(c, sides, true)) return reject();
    this.watch(a.sock, c.id, WATCH_CONN);
    this.sendSyn(c);
  }

  private sendSyn(c: Conn): void {
    this.emit(
      c,
      this.build(
        c.tpl,
        { seq: c.iss, ack: 0, flags: TcpFlag.SYN, window: this.synWindow() },
        this.synOptions(c, true),
      ),
    );
    this.setDeadline(c, this.deps.now() + c.rto);
  }

  // ---------------------------------------------------------------------------------------------
  // From the host sockets

  /** A ready list from the epoll set: (id, TcpEvent bits) pairs. */
  private onEvents(ev: Uint32Array, n: number): void {
    for (let i = 0; i < n; i++) {
      const target = this.byId.get(ev[2 * i]!);
      if (target === undefined) continue;
      if ('kind' in target) this.acceptAll(target);
      else this.hostEvent(target, ev[2 * i + 1]!);
    }
  }

  private hostEvent(c: Conn, m: number): void {
    if (c.sock === undefined || c.state === 'closed') return;
    if (m & (TcpEvent.In | TcpEvent.RdHup | TcpEvent.Hup)) c.moreData = true;
    if (m & (TcpEvent.RdHup | TcpEvent.Hup)) c.hostFinSignalled = true;
    if (c.state === 'connecting') {
      if (!(m & (TcpEvent.Out | TcpEvent.Err | TcpEvent.Hup))) return;
      const err = this.host.socketError(c.sock!);
      if (err === 0 && !(m & TcpEvent.Hup)) return this.connected(c);
      // Refused or failed: the guest sees "connection refused" at once.
      this.counters.refused++;
      this.segmentRst(c.tpl, 0, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
      this.finish(c);
      return;
    }
    if (m & TcpEvent.Err) {
      const err = this.host.socketError(c.sock!);
      if (err !== 0) return this.hostFailed(c);
    }
    this.markDirty(c);
  }

  /** The host connection failed (reset, unreachable, keepalive timeout): RST to the guest. */
  private hostFailed(c: Conn): void {
    if (c.state === 'closed') return;
    if (c.state === 'syn-sent') {
      this.segmentRst(c.tpl, seqAdd(c.iss, 1), c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
    } else {
      this.counters.resetsToGuest++;
      this.segmentRst(c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
    }
    this.finish(c);
  }

  /** Writes the guest data the socket has not taken; shuts the write side after a guest FIN. */
  private flushWrites(c: Conn): void {
    if (c.pendingBytes > 0) {
      const q = c.pending;
      let n = this.host.send(
        c.sock!,
        q.map((x) => x.data),
      );
      if (n < 0) {
        if (-n !== Errno.EAGAIN) return this.hostFailed(c);
        n = 0;
      }
      c.pendingBytes -= n;
      let i = 0;
      while (n > 0) {
        const d = q[i]!.data;
        if (n >= d.length) {
          n -= d.length;
          i++;
        } else {
          q[i]!.data = d.subarray(n);
          n = 0;
        }
      }
      if (i > 0) q.splice(0, i);
      if (c.pendingBytes > 0) {
        // The socket is full: keep the rest (copied: frames are not ours beyond this batch)
        // and write it when the socket signals room (an Out edge).
        for (const x of q) {
          if (x.owned) continue;
          x.data = Uint8Array.prototype.slice.call(x.data);
          x.owned = true;
        }
        if (!c.writeBlocked) this.counters.writesBlocked++;
        c.writeBlocked = true;
        return;
      }
      if (c.writeBlocked) {
        // The queue drained: tell the guest its window opened again.
        c.writeBlocked = false;
        if (!c.guestFin && seqDiff(c.rcvEdge, c.rcvNxt) < RECV_BUFFER / 2) {
          this.counters.windowUpdates++;
          c.ackDue = true;
        }
      }
    }
    if (c.guestFin && !c.shut) {
      c.shut = true;
      this.host.shutdown(c.sock!);
      this.maybeFinished(c);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sending to the guest

  private markDirty(c: Conn): void {
    this.dirty.add(c);
    this.scheduleFlush();
  }

  /** Flushes once the current batch (the caller's event and its microtasks) is done. */
  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // A promise reaction rather than queueMicrotask, which makes an AsyncResource per call.
    void RESOLVED.then(this.flushNow);
  }

  private readonly flushNow = (): void => this.flush();

  /** End of a batch: write guest data to the sockets, send data and due ACKs, frames to the link. */
  private flush(): void {
    this.flushQueued = false;
    const dirty = this.dirty;
    this.dirty = new Set();
    for (const c of dirty) {
      if (c.sock !== undefined && (c.state === 'established' || c.state === 'closed'))
        this.flushWrites(c);
      if (c.state === 'established') this.pump(c);
      if (c.ackDue) this.sendAck(c);
    }
    this.sendOut();
  }

  private sendOut(): void {
    if (this.out.length === 0) return;
    const frames = this.out;
    this.out = [];
    this.deps.toGuest(frames, this.partial);
    this.arena?.reset();
  }

  private emit(c: Conn, frame: Uint8Array): void {
    c.lastAckSent = c.rcvNxt;
    // This segment carries the ACK a delayed one was waiting for (data going back, usually).
    // The timer stays: clearing and re-arming it per exchange costs more than one idle expiry.
    if (this.delayed.size > 0) this.delayed.delete(c);
    const mac = this.deps.guestMac();
    if (mac && mac !== c.tpl.mac && !equalBytes(mac, c.tpl.mac)) {
      retarget(c.tpl, mac);
      frame.set(mac, 0);
    }
    this.counters.segmentsOut++;
    this.out.push(frame);
    this.scheduleFlush();
  }

  /** The window to advertise now (bytes), never moving the right edge left. */
  private window(c: Conn): number {
    const free = Math.max(0, RECV_BUFFER - c.pendingBytes - c.oooBytes);
    const edge = seqAdd(c.rcvNxt, free);
    if (seqGt(edge, c.rcvEdge)) c.rcvEdge = edge;
    const wnd = seqDiff(c.rcvEdge, c.rcvNxt);
    return Math.min(0xffff, wnd >>> c.wsOut);
  }

  private sendAck(c: Conn): void {
    c.ackDue = false;
    if (c.state === 'connecting' || c.state === 'syn-sent') return;
    const w = this.window(c);
    this.emit(
      c,
      this.build(
        c.tpl,
        { seq: c.sndNxt, ack: c.rcvNxt, flags: TcpFlag.ACK, window: w },
        undefined,
        this.sackBlocks(c),
      ),
    );
  }

  private sendFin(c: Conn, seq: number): void {
    this.emit(
      c,
      this.build(c.tpl, {
        seq,
        ack: c.rcvNxt,
        flags: TcpFlag.FIN | TcpFlag.ACK,
        window: this.window(c),
      }),
    );
    c.ackDue = false;
  }

  /** Drops what the guest acknowledged from the head of the socket's queue. */
  private consumeAcked(c: Conn): void {
    if (c.unconsumed === 0 || c.sock === undefined) return;
    const r = this.host.consume(c.sock, c.unconsumed);
    if (r <= 0) return;
    c.unconsumed -= r;
    c.peekOff = Math.max(0, c.peekOff - r);
  }

  /**
   * Sends what the guest's window allows: bytes sent before and rewound (after a timeout), then
   * new bytes while the socket may hold more, then the FIN when the host's stream has ended.
   */
  private pump(c: Conn): void {
    if (c.sock === undefined) return;
    this.consumeAcked(c);
    const wndEnd = seqAdd(c.sndUna, c.sndWnd);
    let budget = PUMP_BYTES;
    for (;;) {
      if (c.hostEof && !seqLt(c.sndNxt, c.finSeq)) {
        // FIN right after the last byte (sent again after a rewind).
        if (c.sndNxt === c.finSeq && !c.finAcked) {
          this.sendFin(c, c.finSeq);
          c.sndNxt = seqAdd(c.finSeq, 1);
          if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
        }
        break;
      }
      const room = Math.min(seqDiff(wndEnd, c.sndNxt), budget);
      if (room <= 0) break;
      const resend = seqLt(c.sndNxt, c.sndMax);
      if (!resend && !c.moreData && !c.hostEof) break;
      const want = c.hostEof ? Math.min(room, seqDiff(c.finSeq, c.sndNxt)) : room;
      const n = this.peekSegments(c, c.sndNxt, want);
      if (n === 0) {
        // The end of the host's stream: the FIN goes right after what was sent.
        c.hostEof = true;
        c.finSeq = c.sndNxt;
        c.moreData = false;
        continue;
      }
      if (n < 0) {
        c.moreData = false;
        if (-n !== Errno.EAGAIN) this.hostFailed(c);
        break;
      }
      c.sndNxt = seqAdd(c.sndNxt, n);
      if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
      budget -= n;
      // A short peek ran the queue dry; once the peer's FIN was signalled, peek once more to
      // find the end of the stream (its edge has passed and will not come again).
      if (n < want && !resend && !c.hostFinSignalled) c.moreData = false;
    }
    if (c.sock === undefined) return;
    const outstanding = c.sndUna !== c.sndMax;
    if (outstanding && c.deadline === undefined) this.setDeadline(c, this.deps.now() + c.rto);
    else if (!outstanding && c.moreData && c.sndWnd === 0 && c.deadline === undefined)
      this.setDeadline(c, this.deps.now() + c.rto); // zero-window probe
  }

  /**
   * Peeks up to `want` bytes starting at `seq` (at or after sndUna) into segments of at most
   * the guest's MSS and queues them for the guest. Returns the bytes sent, 0 at the end of the
   * host's stream, or −errno (−EAGAIN: nothing queued there yet).
   */
  private peekSegments(c: Conn, seq: number, want: number): number {
    const t = c.tpl;
    const head = dataOffset(t);
    const mss = c.mss;
    const count = Math.min(PEEK_SEGMENTS, Math.ceil(want / mss));
    want = Math.min(want, count * mss);
    const iov = this.iov;
    const starts = this.frameStarts;
    let size = 0;
    for (let i = 0; i < count; i++) {
      const len = Math.min(mss, want - i * mss);
      starts[i] = size;
      iov[2 * i] = size + head;
      iov[2 * i + 1] = len;
      size = (size + head + len + 7) & ~7;
    }
    const chunk = this.arena ? this.arena.alloc(size) : Buffer.allocUnsafe(size);
    const off = seqDiff(seq, c.sndUna);
    this.counters.peeks++;
    const n = this.host.peek(c.sock!, chunk, iov, count, off === c.peekOff ? -1 : off);
    c.peekOff = off;
    if (n <= 0) return n;
    c.peekOff = off + n;
    const window = this.window(c);
    const segs = Math.ceil(n / mss);
    const timed = c.rttSeq === undefined && seqGe(seq, c.sndMax);
    for (let i = 0; i < segs; i++) {
      const len = Math.min(mss, n - i * mss);
      const s = seqAdd(seq, i * mss);
      const frame = chunk.subarray(starts[i]!, starts[i]! + head + len);
      const last = i === segs - 1;
      finishDataSegment(t, frame, {
        seq: s,
        ack: c.rcvNxt,
        flags: TcpFlag.ACK | (last ? TcpFlag.PSH : 0),
        window,
      });
      this.emit(c, frame);
    }
    c.ackDue = false;
    this.counters.bytesToGuest += n;
    if (c.flow) {
      c.flow.bytesOut += n;
      c.flow.packetsOut += segs;
    }
    if (timed) {
      c.rttSeq = seqAdd(seq, n);
      c.rttAt = this.deps.now();
    }
    return n;
  }

  /** Resends one segment at sndUna (fast retransmit, partial ACK). */
  private retransmitOne(c: Conn): void {
    c.rttSeq = undefined; // Karn
    this.consumeAcked(c);
    const avail = Math.min(this.knownData(c), seqDiff(c.sndMax, c.sndUna));
    if (avail > 0) {
      this.counters.retransmits++;
      const n = this.peekSegments(c, c.sndUna, Math.min(avail, c.mss));
      if (n < 0 && -n !== Errno.EAGAIN) return this.hostFailed(c);
    } else if (c.hostEof && !c.finAcked) {
      this.sendFin(c, c.sndUna);
    }
    this.setDeadline(c, this.deps.now() + c.rto);
  }

  private segmentRst(tpl: SegmentTemplate, seq: number, ack: number, flags: number): void {
    this.counters.segmentsOut++;
    this.out.push(this.build(tpl, { seq, ack, flags, window: 0 }));
    this.scheduleFlush();
  }

  /** RFC 9293 §3.10.7.1: a segment for no connection gets a reset (unless it is one). */
  private resetUnknown(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    seg: TcpRepr,
    len: number,
  ): void {
    if (seg.flags & TcpFlag.RST) return;
    const tpl = segmentTemplate(
      family,
      this.deps.ourMac,
      this.deps.guestMac() ?? new Uint8Array(6).fill(0xff),
      dst,
      src,
      seg.dstPort,
      seg.srcPort,
      this.partial,
    );
    if (seg.flags & TcpFlag.ACK) this.segmentRst(tpl, seg.ack, 0, TcpFlag.RST);
    else {
      const segLen = len + (seg.flags & TcpFlag.SYN ? 1 : 0) + (seg.flags & TcpFlag.FIN ? 1 : 0);
      this.segmentRst(tpl, 0, seqAdd(seg.seq, segLen), TcpFlag.RST | TcpFlag.ACK);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  private rttSample(c: Conn, r: number): void {
    // RFC 6298 §2.2–2.3 with alpha 1/8, beta 1/4.
    if (c.srtt === undefined) {
      c.srtt = r;
      c.rttvar = r / 2;
    } else {
      c.rttvar = 0.75 * c.rttvar + 0.25 * Math.abs(c.srtt - r);
      c.srtt = 0.875 * c.srtt + 0.125 * r;
    }
    c.rto = Math.min(RTO_MAX_MS, Math.max(RTO_MIN_MS, c.srtt + Math.max(TICK_MS, 4 * c.rttvar)));
  }

  private setDeadline(c: Conn, at: number | undefined): void {
    c.deadline = at;
    if (at === undefined) {
      this.timed.delete(c);
      return;
    }
    this.timed.add(c);
    if (this.tick === undefined && !this.closed) this.armTick();
  }

  private armTick(): void {
    this.tick = this.deps.setTimer(() => {
      this.tick = undefined;
      this.onTick();
      if (this.timed.size > 0 && !this.closed) this.armTick();
    }, TICK_MS);
  }

  private onTick(): void {
    const now = this.deps.now();
    for (const c of [...this.timed]) {
      if (c.deadline === undefined || c.deadline > now) continue;
      this.timeout(c, now);
    }
    this.sendOut();
  }

  private timeout(c: Conn, now: number): void {
    c.deadline = undefined;
    this.timed.delete(c);
    c.retries++;
    const limit = c.state === 'syn-sent' || c.state === 'syn-rcvd' ? SYN_RETRIES : MAX_RETRIES;
    if (c.retries > limit) {
      this.counters.resetsToGuest++;
      this.segmentRst(c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
      this.resetHost(c);
      return;
    }
    c.rto = Math.min(RTO_MAX_MS, c.rto * 2);
    c.rttSeq = undefined;
    switch (c.state) {
      case 'syn-sent':
        this.counters.timeouts++;
        return this.sendSyn(c);
      case 'syn-rcvd':
        this.counters.timeouts++;
        return this.sendSynAck(c);
      case 'established':
        break;
      default:
        return;
    }
    if (c.sndUna === c.sndMax) {
      // Nothing in flight: a zero-window probe the guest must answer with its window.
      if (c.moreData && c.sndWnd === 0) {
        c.retries = 0; // probes do not count toward giving up (RFC 9293 §3.8.6.1)
        this.counters.zeroWindowProbes++;
        this.probe(c);
        this.setDeadline(c, now + c.rto);
      }
      return;
    }
    this.counters.timeouts++;
    this.counters.retransmits++;
    c.sndNxt = c.sndUna; // go back to the first unacknowledged byte
    c.recover = undefined;
    c.dupAcks = 0;
    this.setDeadline(c, now + c.rto);
    const wnd = c.sndWnd;
    if (wnd === 0) c.sndWnd = Math.min(c.mss, Math.max(1, this.knownData(c))); // one segment
    this.pump(c);
    c.sndWnd = wnd;
  }

  /** An ACK one below sndNxt: the guest answers it with an ACK carrying its window. */
  private probe(c: Conn): void {
    this.emit(
      c,
      this.build(c.tpl, {
        seq: seqAdd(c.sndNxt, -1),
        ack: c.rcvNxt,
        flags: TcpFlag.ACK,
        window: this.window(c),
      }),
    );
  }

  /**
   * Resets connections idle past INACTIVITY_MS, sends keepalives to quiet guests, resets those
   * whose guest stopped answering, and removes lingering finished flows.
   *
   * @param nowMs - the daemon's clock
   */
  expire(nowMs: number): void {
    for (const c of [...this.conns.values()]) {
      const f = c.flow;
      if (f && this.deps.table.get(f.id) !== f) {
        this.forget(c); // removed behind our back
        continue;
      }
      if (f && nowMs - f.lastActivityMs >= f.timeoutMs) {
        if (c.state !== 'closed') {
          this.counters.resetsToGuest++;
          this.segmentRst(c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
          this.resetHost(c, 'expired');
        } else this.forget(c, 'expired');
        continue;
      }
      if (c.state !== 'established' || c.sndUna !== c.sndMax) continue;
      if (nowMs - c.lastGuestMs < KEEPALIVE_MS || nowMs - c.lastKeepaliveMs < KEEPALIVE_MS)
        continue;
      if (c.keepaliveSent >= KEEPALIVE_PROBES) {
        this.counters.resetsToGuest++;
        this.segmentRst(c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
        this.resetHost(c);
        continue;
      }
      c.keepaliveSent++;
      c.lastKeepaliveMs = nowMs;
      this.counters.keepalives++;
      this.probe(c);
    }
    this.sendOut();
  }

  // ---------------------------------------------------------------------------------------------
  // Teardown

  /** Both directions done: close the socket, linger briefly for retransmitted FINs. */
  private maybeFinished(c: Conn): void {
    if (c.state === 'closed' || !c.guestFin || !c.finAcked || !c.shut) return;
    c.state = 'closed';
    this.setDeadline(c, undefined);
    this.consumeAcked(c);
    this.closeSocket(c, false);
    if (c.flow) {
      c.flow.timeoutMs = LINGER_MS;
      c.flow.lastActivityMs = this.deps.now();
    }
  }

  private closeSocket(c: Conn, reset: boolean): void {
    if (c.sock === undefined) return;
    this.host.close(c.sock, reset); // also leaves the epoll set
    c.sock = undefined;
    this.byId.delete(c.id);
  }

  /** Resets the host connection (the guest reset, gave up or went away) and drops the flow. */
  private resetHost(c: Conn, reason: 'closed' | 'expired' = 'closed'): void {
    if (c.sock !== undefined) {
      this.counters.resetsToHost++;
      this.closeSocket(c, true);
    }
    this.forget(c, reason);
  }

  /** The host side failed: drop the flow (the RST to the guest was sent by the caller). */
  private finish(c: Conn): void {
    this.closeSocket(c, false);
    this.forget(c);
  }

  private forget(c: Conn, reason: 'closed' | 'expired' = 'closed'): void {
    c.state = 'closed';
    c.ooo = [];
    c.pending = [];
    c.pendingBytes = 0;
    this.setDeadline(c, undefined);
    this.dirty.delete(c);
    this.delayed.delete(c);
    this.closeSocket(c, false);
    if (this.conns.get(c.key) === c) this.conns.delete(c.key);
    if (c.flow) {
      this.deps.table.remove(c.flow, reason);
      c.flow = undefined;
    }
  }

  /** The guest went away (stream client disconnected): reset every host connection. */
  linkDown(): void {
    for (const c of [...this.conns.values()]) this.resetHost(c);
    this.out = [];
    this.arena?.reset();
  }

  /** Resets every connection, closes the listening sockets and the epoll set. */
  close(): Promise<void> {
    this.linkDown();
    this.closed = true;
    if (this.tick !== undefined) this.deps.clearTimer(this.tick);
    this.tick = undefined;
    if (this.ackTimer !== undefined) this.deps.clearTimer(this.ackTimer);
    this.ackTimer = undefined;
    for (const l of this.listeners.splice(0)) this.host.close(l.sock, false);
    this.byId.clear();
    this.poller?.close();
    this.poller = undefined;
    return Promise.resolve();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

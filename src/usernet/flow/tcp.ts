// TCP translation: the guest's TCP connections become ordinary host sockets of the pod, and forwarded host ports reach the guest.
//
// Theory of operation
// ===================
//
// Goal. Like passt (facts-passt §1.3) this is not a TCP stack: each guest connection is paired
// with one kernel socket (`node:net`), and the translator only does what the guest's TCP needs
// to see a well-behaved peer — handshake, sequence/acknowledgment bookkeeping, windows,
// retransmission and teardown. Data is never reordered or rewritten. Unlike passt we cannot peek
// the kernel's receive queue from Node (no MSG_PEEK/SO_PEEK_OFF on net.Socket), so bytes read
// from a host socket and not yet acknowledged by the guest live in our own bounded queue
// (`ByteQueue`, SEND_BUFFER bytes), and the socket is paused while that queue is full.
//
// Opening (RFC 9293 §3.5).
// - Outbound: a guest SYN makes a flow and a non-blocking connect to the mapped host address
//   (nat.ts: the gateway stands for the pod's loopback). The SYN-ACK goes to the guest only
//   when the connect succeeds; a refused or failed connect becomes RST+ACK, so the guest sees
//   "connection refused" at once. A repeated SYN while connecting is ignored; one after the
//   SYN-ACK gets the SYN-ACK again.
// - Inbound (-t): a host connection accepted on a forwarded port makes a flow and a SYN to the
//   guest (the host peer already sees an established connection); the host socket stays paused
//   until the guest's SYN-ACK. Host loopback peers appear to come from the --map-host-loopback
//   address. The SYN is resent with backoff, then the host connection is reset.
// - Options: our SYN/SYN-ACK carries MSS (MTU − IP − 20), SACK-permitted when the guest offered
//   it, and window scale WS_TO_GUEST when the guest offered scaling (RFC 7323 §2.2: both or
//   none). No timestamps (as passt). The ISN is RFC 6528's: a 4 µs clock plus a keyed hash of
//   the 4-tuple (HMAC-SHA-256 with a random secret per translator).
//
// Guest → host. A segment at rcvNxt is written to the socket as it is (a view of the frame, no
// copy; sockets are corked for the rest of the batch so a batch of segments is one writev).
// Old data is trimmed (retransmissions) and answered with an ACK; segments beyond rcvNxt inside
// the window are copied into an out-of-order list and answered at once with a duplicate ACK
// carrying SACK blocks (RFC 2018 §4), so the guest retransmits only the hole. The window we
// advertise is what the socket can still take before RECV_BUFFER bytes wait in Node's write
// queue; its right edge never moves left (RFC 9293 §3.8.6.2.2). When the queue drains a window
// update goes out. A guest FIN ends the socket's write side (half-close); a guest RST resets
// the host connection (SO_LINGER 0 through resetAndDestroy). ACKs go at the end of the batch
// for every second full segment, a FIN or a filled gap; a lone small segment's ACK waits
// ACK_DELAY_MS so that the reply (request/response traffic) carries it instead.
//
// Host → guest. Bytes read go into the queue and out as segments of at most the guest's MSS,
// never beyond the guest's window (scaled by its shift). PSH marks the last segment of a burst.
// ACKs free the queue. Each segment is one copy (queue → frame); on a link that offloads
// checksums (an offloading tap) the payload is not summed at all, and on a link that is done
// with frames when send returns (a tap) the frames come from a reused arena (tcp-frame.ts). The end of the host stream becomes a FIN after the data; a host error
// (reset, unreachable, keepalive timeout) becomes an RST.
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
// the flow lingers LINGER_MS to re-acknowledge a retransmitted FIN, then goes. `linkDown()` (the
// guest went away) and `close()` reset every host connection.
//
// Limits: the shared flow table bounds connections (full → RST to the guest's SYN); memory per
// connection is bounded by SEND_BUFFER + RECV_BUFFER + the out-of-order bytes (≤ the window).
import { createHmac, randomBytes } from 'node:crypto';
import { Socket, createServer, type Server } from 'node:net';
import type { Flow, FlowSide } from './table.js';
import type { FlowDeps } from './udp.js';
import { guestToHost, hostToGuestSource, canonicalAddr } from './nat.js';
import { ByteQueue } from './byte-queue.js';
import {
  buildSegment,
  FrameArena,
  retarget,
  segmentTemplate,
  type SegmentHeader,
  type SegmentTemplate,
  type SynOptions,
} from './tcp-frame.js';
import { TcpFlag, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqLe, seqGe } from '../../wire/seq.js';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../wire/common.js';

/** Bytes read from a host socket that may wait for the guest's ACK. */
export const SEND_BUFFER = 4 << 20;
/** Bytes written to a host socket that may wait in Node's queue (the window we offer). */
export const RECV_BUFFER = 4 << 20;
/** Our window shift (window up to 2^16 << 7 = 8 MiB). */
export const WS_TO_GUEST = 7;
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
  /** Window updates sent when a host socket drained. */
  windowUpdates: number;
  zeroWindowProbes: number;
  keepalives: number;
  /** The flow table was full. */
  tableFull: number;
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

interface Conn {
  readonly key: string;
  readonly family: 4 | 6;
  readonly tpl: SegmentTemplate;
  readonly sock: Socket;
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
  sackOk: boolean;
  ackDue: boolean;
  /** The acknowledgment number of the last segment sent to the guest. */
  lastAckSent: number;
  /** Largest payload seen from the guest (its effective MSS, for the ACK-every-two rule). */
  rcvMss: number;
  corked: boolean;
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
  readonly queue: ByteQueue;
  hostEof: boolean;
  finAcked: boolean;
  paused: boolean;
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
  sockClosed: boolean;
  /** Guest address and port, for logs and the table. */
  readonly guestPort: number;
  readonly remotePort: number;
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
  };
  private readonly conns = new Map<string, Conn>();
  private readonly flows = new Set<Flow<Conn>>();
  private readonly servers: Server[] = [];
  private readonly secret: Buffer;
  /** Connections with work for the next flush (ACK due, data to send, corked socket). */
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

  constructor(
    private readonly deps: TcpDeps,
    secret: Uint8Array = randomBytes(16),
  ) {
    this.secret = Buffer.from(secret);
    this.partial = deps.checksumOffload === true;
    this.arena = deps.framesReusable === true ? new FrameArena() : undefined;
  }

  private build(
    t: SegmentTemplate,
    h: SegmentHeader,
    payloadLen: number,
    fill?: (frame: Uint8Array, offset: number) => void,
    syn?: SynOptions,
    sack?: readonly (readonly [number, number])[],
  ): Uint8Array {
    return buildSegment(t, h, payloadLen, fill, syn, sack, this.arena?.alloc);
  }

  /** Live connections. */
  get size(): number {
    return this.conns.size;
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
   * @param payload - the segment's payload (a view into the frame; kept only while queued)
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
      c.sock.resume();
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
      const dataAcked = Math.min(acked, c.queue.length);
      c.queue.drop(dataAcked);
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
      if (c.paused && c.queue.length < SEND_BUFFER / 2 && !c.hostEof) {
        c.paused = false;
        c.sock.resume();
      }
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
    this.deliver(c, p, fin);
    while (c.ooo.length > 0 && !c.guestFin) {
      const o = c.ooo[0]!;
      const skip = seqDiff(c.rcvNxt, o.seq);
      if (skip < 0) break;
      c.ooo.shift();
      c.oooBytes -= o.data.length;
      if (skip >= o.data.length && !(o.fin && skip === o.data.length)) continue;
      this.deliver(c, o.data.subarray(Math.min(skip, o.data.length)), o.fin);
    }
    // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: acknowledge at once every second full segment, a FIN
    // and a segment that fills a gap; otherwise wait ACK_DELAY_MS for data going back to carry
    // the ACK (a request/response exchange then costs no pure ACK at all).
    if (c.guestFin || fillsGap || seqDiff(c.rcvNxt, c.lastAckSent) >= 2 * c.rcvMss) c.ackDue = true;
    else this.delayAck(c);
  }

  private delayAck(c: Conn): void {
    this.delayed.add(c);
    if (this.ackTimer !== undefined || this.closed) return;
    this.ackTimer = this.deps.setTimer(() => {
      this.ackTimer = undefined;
      for (const d of this.delayed) {
        if (d.state !== 'connecting' && d.state !== 'syn-sent' && d.lastAckSent !== d.rcvNxt)
          this.sendAck(d);
      }
      this.delayed.clear();
      this.sendOut();
    }, ACK_DELAY_MS);
  }

  private deliver(c: Conn, p: Uint8Array, fin: boolean): void {
    if (p.length > 0) {
      if (!c.corked) {
        c.sock.cork();
        c.corked = true;
      }
      c.sock.write(p);
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
      c.sock.end();
      this.maybeFinished(c);
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
    const h = createHmac('sha256', this.secret);
    h.update(src)
      .update(dst)
      .update(Uint8Array.of(sp >>> 8, sp & 0xff, dp >>> 8, dp & 0xff));
    const f = h.digest().readUInt32BE(0);
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
    sock: Socket,
    inbound: boolean,
  ): Conn {
    const mac = this.deps.guestMac() ?? new Uint8Array(6).fill(0xff);
    const iss = this.isn(guest, remote, guestPort, remotePort);
    const now = this.deps.now();
    return {
      key,
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
      sackOk: false,
      ackDue: false,
      lastAckSent: 0,
      rcvMss: DEFAULT_MSS,
      corked: false,
      iss,
      sndUna: iss,
      sndNxt: seqAdd(iss, 1),
      sndMax: seqAdd(iss, 1),
      sndWnd: 0,
      wsIn: 0,
      mss: DEFAULT_MSS,
      queue: new ByteQueue(),
      hostEof: false,
      finAcked: false,
      paused: false,
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
      sockClosed: false,
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
    this.flows.add(flow);
    this.conns.set(c.key, c);
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
    const sock = new Socket({ allowHalfOpen: true });
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
      sock.destroy();
      return rstSyn();
    }
    this.wire(c);
    sock.once('connect', () => {
      if (c.state !== 'connecting') return;
      sock.setNoDelay(true);
      sock.setKeepAlive(true, KEEPALIVE_MS);
      c.state = 'syn-rcvd';
      this.counters.outbound++;
      this.sendSynAck(c);
    });
    sock.connect({ host: target.addr, port: target.port });
  }

  private sendSynAck(c: Conn): void {
    this.emit(
      c,
      this.build(
        c.tpl,
        { seq: c.iss, ack: c.rcvNxt, flags: TcpFlag.SYN | TcpFlag.ACK, window: this.synWindow() },
        0,
        undefined,
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
   * @returns when every port listens; rejects with the first error
   */
  async listen(portMap: Uint16Array, bindAddr?: string): Promise<void> {
    const waits: Promise<void>[] = [];
    for (let p = 1; p < portMap.length && p < 65536; p++) {
      const guestPort = portMap[p] ?? 0;
      if (guestPort === 0) continue;
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) =>
        this.accept(s, guestPort),
      );
      this.servers.push(server);
      waits.push(
        new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: p, host: bindAddr ?? '::', backlog: 1024 }, () => {
            server.off('error', reject);
            server.on('error', () => {});
            resolve();
          });
        }),
      );
    }
    await Promise.all(waits);
  }

  private accept(sock: Socket, guestPort: number): void {
    const peer = sock.remoteAddress ?? '';
    const v4 = peer.startsWith('::ffff:') ? peer.slice(7) : peer;
    const family: 4 | 6 = canonicalAddr(4, v4) !== undefined ? 4 : 6;
    const fc = family === 4 ? this.deps.cfg.v4 : this.deps.cfg.v6;
    const guest = fc ? addrBytes(family, fc.guestAddr) : undefined;
    const remoteText = hostToGuestSource(this.deps.cfg, family, family === 4 ? v4 : peer);
    const remote = addrBytes(family, remoteText);
    const remotePort = sock.remotePort ?? 0;
    if (this.closed || !guest || !remote || remotePort === 0) {
      sock.resetAndDestroy();
      return;
    }
    const key = connKey(guest, remote, guestPort, remotePort);
    if (this.conns.has(key)) {
      sock.resetAndDestroy();
      return;
    }
    const c = this.newConn(key, family, guest, remote, guestPort, remotePort, sock, true);
    c.mss = Math.min(this.deps.cfg.mtu - (family === 4 ? 40 : 60), 0xffff);
    const guestText = addrText(family, guest);
    const sides: [FlowSide, FlowSide] = [
      {
        endpointAddr: family === 4 ? v4 : peer,
        endpointPort: remotePort,
        ourAddr: sock.localAddress ?? '',
        ourPort: sock.localPort ?? 0,
      },
      {
        endpointAddr: guestText,
        endpointPort: guestPort,
        ourAddr: remoteText,
        ourPort: remotePort,
      },
    ];
    if (!this.register(c, sides, true)) {
      sock.resetAndDestroy();
      return;
    }
    sock.setNoDelay(true);
    sock.setKeepAlive(true, KEEPALIVE_MS);
    this.wire(c);
    this.sendSyn(c);
  }

  private sendSyn(c: Conn): void {
    this.emit(
      c,
      this.build(
        c.tpl,
        { seq: c.iss, ack: 0, flags: TcpFlag.SYN, window: this.synWindow() },
        0,
        undefined,
        this.synOptions(c, true),
      ),
    );
    this.setDeadline(c, this.deps.now() + c.rto);
  }

  // ---------------------------------------------------------------------------------------------
  // From the host socket

  private wire(c: Conn): void {
    const sock = c.sock;
    sock.on('data', (chunk: Buffer) => {
      if (c.state === 'closed') return;
      c.queue.push(chunk);
      if (c.flow) c.flow.lastActivityMs = this.deps.now();
      if (c.queue.length >= SEND_BUFFER && !c.paused) {
        c.paused = true;
        sock.pause();
      }
      this.markDirty(c);
    });
    sock.on('end', () => {
      c.hostEof = true;
      this.markDirty(c);
    });
    sock.on('drain', () => {
      // Node's write queue emptied: tell the guest its window opened again.
      if (c.state !== 'established' || c.guestFin) return;
      const offered = seqDiff(c.rcvEdge, c.rcvNxt);
      if (offered < RECV_BUFFER / 2) {
        this.counters.windowUpdates++;
        c.ackDue = true;
        this.markDirty(c);
      }
    });
    sock.on('error', () => {
      // Refused or failed connect, reset by the host peer, keepalive timeout…
      if (c.state === 'closed') return;
      if (c.state === 'connecting') {
        this.counters.refused++;
        this.segmentRst(c.tpl, 0, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
      } else {
        this.counters.resetsToGuest++;
        this.segmentRst(c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
      }
      this.finish(c);
    });
    sock.on('close', () => {
      c.sockClosed = true;
      if (c.state === 'connecting' || c.state === 'syn-sent') {
        // Closed before the guest knew: refuse / reset the guest side.
        this.segmentRst(
          c.tpl,
          c.state === 'syn-sent' ? seqAdd(c.iss, 1) : 0,
          c.rcvNxt,
          TcpFlag.RST | TcpFlag.ACK,
        );
        this.finish(c);
        return;
      }
      this.maybeFinished(c);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Sending to the guest

  private markDirty(c: Conn): void {
    this.dirty.add(c);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** End of a batch: uncork sockets, send data and due ACKs, hand all frames to the link. */
  private flush(): void {
    this.flushQueued = false;
    const dirty = this.dirty;
    this.dirty = new Set();
    for (const c of dirty) {
      if (c.corked) {
        c.corked = false;
        c.sock.uncork();
      }
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
    const mac = this.deps.guestMac();
    if (mac && mac !== c.tpl.mac && !equalBytes(mac, c.tpl.mac)) {
      retarget(c.tpl, mac);
      frame.set(mac, 0);
    }
    this.counters.segmentsOut++;
    this.out.push(frame);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** The window to advertise now (bytes), never moving the right edge left. */
  private window(c: Conn): number {
    const free = Math.max(0, RECV_BUFFER - c.sock.writableLength - c.oooBytes);
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
        0,
        undefined,
        undefined,
        this.sackBlocks(c),
      ),
    );
  }

  /** Sends what the guest's window allows from the queue, then the FIN when the host ended. */
  private pump(c: Conn): void {
    const q = c.queue;
    const wndEnd = seqAdd(c.sndUna, c.sndWnd);
    let sent = false;
    for (;;) {
      const off = seqDiff(c.sndNxt, c.sndUna);
      const avail = q.length - off;
      const room = seqDiff(wndEnd, c.sndNxt);
      if (avail > 0 && room > 0) {
        const n = Math.min(avail, room, c.mss);
        this.sendData(c, c.sndNxt, off, n, n === avail);
        c.sndNxt = seqAdd(c.sndNxt, n);
        if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
        sent = true;
        continue;
      }
      if (avail === 0 && c.hostEof && off === q.length && !c.finAcked) {
        // FIN right after the last byte (sent again after a rewind).
        const finSeq = seqAdd(c.sndUna, q.length);
        if (c.sndNxt === finSeq) {
          this.emit(
            c,
            this.build(
              c.tpl,
              {
                seq: finSeq,
                ack: c.rcvNxt,
                flags: TcpFlag.FIN | TcpFlag.ACK,
                window: this.window(c),
              },
              0,
            ),
          );
          c.ackDue = false;
          c.sndNxt = seqAdd(finSeq, 1);
          if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
          sent = true;
        }
      }
      break;
    }
    const outstanding = c.sndUna !== c.sndMax;
    if (outstanding && c.deadline === undefined) this.setDeadline(c, this.deps.now() + c.rto);
    else if (!outstanding && q.length > 0 && c.sndWnd === 0 && c.deadline === undefined)
      this.setDeadline(c, this.deps.now() + c.rto); // zero-window probe
    if (sent && c.paused && q.length < SEND_BUFFER / 2 && !c.hostEof) {
      c.paused = false;
      c.sock.resume();
    }
  }

  private sendData(c: Conn, seq: number, off: number, n: number, push: boolean): void {
    const w = this.window(c);
    const q = c.queue;
    const frame = this.build(
      c.tpl,
      { seq, ack: c.rcvNxt, flags: TcpFlag.ACK | (push ? TcpFlag.PSH : 0), window: w },
      n,
      (f, at) => q.copy(off, n, f, at),
    );
    c.ackDue = false;
    this.counters.bytesToGuest += n;
    if (c.flow) {
      c.flow.bytesOut += n;
      c.flow.packetsOut++;
    }
    if (c.rttSeq === undefined && seqGe(seq, c.sndMax)) {
      c.rttSeq = seqAdd(seq, n);
      c.rttAt = this.deps.now();
    }
    this.emit(c, frame);
  }

  /** Resends one segment at sndUna (fast retransmit, partial ACK). */
  private retransmitOne(c: Conn): void {
    const avail = Math.min(c.queue.length, seqDiff(c.sndMax, c.sndUna));
    c.rttSeq = undefined; // Karn
    if (avail > 0) {
      const n = Math.min(avail, c.mss);
      this.counters.retransmits++;
      this.sendData(c, c.sndUna, 0, n, n === avail);
    } else if (c.hostEof && !c.finAcked) {
      this.emit(
        c,
        this.build(
          c.tpl,
          {
            seq: c.sndUna,
            ack: c.rcvNxt,
            flags: TcpFlag.FIN | TcpFlag.ACK,
            window: this.window(c),
          },
          0,
        ),
      );
    }
    this.setDeadline(c, this.deps.now() + c.rto);
  }

  private segmentRst(tpl: SegmentTemplate, seq: number, ack: number, flags: number): void {
    this.counters.segmentsOut++;
    this.out.push(this.build(tpl, { seq, ack, flags, window: 0 }, 0));
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
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
      if (c.queue.length > 0 && c.sndWnd === 0) {
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
    if (wnd === 0) c.sndWnd = Math.min(c.mss, c.queue.length || 1); // let one segment through
    this.pump(c);
    c.sndWnd = wnd;
  }

  /** An ACK one below sndNxt: the guest answers it with an ACK carrying its window. */
  private probe(c: Conn): void {
    this.emit(
      c,
      this.build(
        c.tpl,
        { seq: seqAdd(c.sndNxt, -1), ack: c.rcvNxt, flags: TcpFlag.ACK, window: this.window(c) },
        0,
      ),
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

  /** Both directions done: linger briefly for retransmitted FINs. */
  private maybeFinished(c: Conn): void {
    if (c.state === 'closed' || !c.guestFin || !c.finAcked) return;
    c.state = 'closed';
    this.setDeadline(c, undefined);
    if (c.flow) {
      c.flow.timeoutMs = LINGER_MS;
      c.flow.lastActivityMs = this.deps.now();
    }
    // The socket has ended both ways; Node destroys it once its writes are flushed.
  }

  /** Resets the host connection (the guest reset, gave up or went away) and drops the flow. */
  private resetHost(c: Conn, reason: 'closed' | 'expired' = 'closed'): void {
    if (!c.sockClosed) {
      this.counters.resetsToHost++;
      try {
        c.sock.resetAndDestroy();
      } catch {
        c.sock.destroy();
      }
    }
    this.forget(c, reason);
  }

  /** The host side failed: drop the flow (the RST to the guest was sent by the caller). */
  private finish(c: Conn): void {
    if (!c.sockClosed) c.sock.destroy();
    this.forget(c);
  }

  private forget(c: Conn, reason: 'closed' | 'expired' = 'closed'): void {
    c.state = 'closed';
    c.queue.clear();
    c.ooo = [];
    this.setDeadline(c, undefined);
    this.dirty.delete(c);
    this.delayed.delete(c);
    if (this.conns.get(c.key) === c) this.conns.delete(c.key);
    if (c.flow) {
      this.flows.delete(c.flow);
      this.deps.table.remove(c.flow, reason);
    }
    if (!c.sockClosed) c.sock.destroy();
  }

  /** The guest went away (stream client disconnected): reset every host connection. */
  linkDown(): void {
    for (const c of [...this.conns.values()]) this.resetHost(c);
    this.out = [];
    this.arena?.reset();
  }

  /** Resets every connection and closes the listening sockets. */
  close(): Promise<void> {
    this.linkDown();
    this.closed = true;
    if (this.tick !== undefined) this.deps.clearTimer(this.tick);
    this.tick = undefined;
    if (this.ackTimer !== undefined) this.deps.clearTimer(this.ackTimer);
    this.ackTimer = undefined;
    const servers = this.servers.splice(0);
    return Promise.all(
      servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    ).then(() => undefined);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// TCP translation's shared state: constants, counters, the connection record, creating and forgetting connections.
//
// Theory of operation — the whole (each part of tcp/ opens with its own share)
// ============================================================================
//
// Goal. Like passt (facts-passt §1.3) this is not a TCP stack: each guest connection is paired
// with one kernel socket of the pod (reached through the host seam, usernet/host/tcp.ts: the
// native shim, native/tcp.c, because net.Socket can neither peek at an offset nor drop bytes
// uncopied), and the translator only does what the guest's TCP needs to see a well-behaved
// peer — handshake, sequence/acknowledgment bookkeeping, windows, retransmission and teardown.
// Data is never reordered or rewritten.
//
// The parts: open.ts (handshakes both ways, -t listeners), from-guest.ts (guest → host),
// to-guest.ts (host → guest, readiness, frames out), recovery.ts (RTO, retransmission, timers,
// keepalive, expiry), frame.ts (segment layout), this file (state and teardown) and index.ts
// (the TcpTranslator facade). The parts are plain functions over one TcpCore (no dispatch).
//
// Index. The shared flow table is the only index of connections: a guest segment finds its
// connection by the table's guest side (lookupBytes, straight from the frame's address bytes), a
// readiness event by the flow id the socket was watched under (table.get). Flow ids never exceed
// MAX_FLOW_ID, so listening sockets, which are not flows, are watched under ids above it.
// A finished connection stays in the table (state 'closed') while it lingers.
//
// Teardown. When both directions have finished (guest FIN received and our FIN acknowledged)
// the socket is closed and the flow lingers LINGER_MS to re-acknowledge a retransmitted FIN,
// then goes. `linkDown()` (the guest went away) and `close()` reset every host connection.
//
// Limits: the shared flow table bounds connections (full → RST to the guest's SYN); memory per
// connection is the kernel's socket buffers plus at most RECV_BUFFER bytes of our own (guest
// data the socket did not take yet, and out-of-order data, both within the window we offered).
import type { Forward, ForwardPlan } from '../../fwd/forwards.js';
import { randomBytes } from 'node:crypto';
import { MAX_FLOW_ID, type Flow, type FlowSide, type FlowTable } from '../table.js';
import type { FlowDeps } from '../deps.js';
import { FrameArena, segmentTemplate, type SegmentTemplate } from './frame.js';
import { TcpWatch, type TcpHost, type TcpPoller, type TcpSock } from '../../host/tcp.js';
import { seqAdd } from '../../../wire/seq.js';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6 } from '../../../wire/common.js';
import { sipKey, siphash24, type SipKey } from '../../../wire/siphash.js';
import { flush } from './to-guest.js';
import { setDeadline } from './recovery.js';

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
export const DEFAULT_MSS = 536;
/** Connections accepted per readiness event of a listening socket. */
export const ACCEPT_BATCH = 64;
/** What every connected socket is watched for (edge-triggered, see to-guest.ts). */
export const WATCH_CONN = TcpWatch.In | TcpWatch.Out | TcpWatch.RdHup | TcpWatch.Edge;
/** Listening socket i is watched under LISTENER_ID_BASE + i: above every flow id, never 0. */
export const LISTENER_ID_BASE = MAX_FLOW_ID + 1;

/** Timers the translator needs beyond FlowDeps. */
export interface TcpDeps extends FlowDeps {
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  /** Sends frames; `partialChecksum` when they were built with partial checksums. */
  toGuest(frames: Uint8Array[], partialChecksum?: boolean): void;
  /** The link takes partial TCP checksums (GuestLink.checksumOffload). */
  readonly checksumOffload?: boolean;
  /** The link segments TCP frames up to this size for the guest (GuestLink.tsoMax). */
  readonly tsoMax?: number;
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

export type State =
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
export interface Pending {
  data: Uint8Array;
  owned: boolean;
}

/** One connection: the state of a TCP flow in the table. */
export interface Conn {
  readonly family: 4 | 6;
  readonly tpl: SegmentTemplate;
  /** The host socket; undefined once closed. */
  sock: TcpSock | undefined;
  readonly inbound: boolean;
  /** Its flow; the flow's id is what the socket's readiness events carry. */
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

/** A listening socket: one forwarded (-t) port's, or an all-ports one of a family. */
export interface Listener {
  readonly sock: TcpSock;
  /** A per-port listener's forward (replaced when the specs change). */
  forward?: Forward;
  /** An all-ports listener's family: the forward is looked up by the original destination. */
  readonly family?: 4 | 6;
}

/** The translator's state, shared by the parts of tcp/ (one per translator). */
export class TcpCore {
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
  readonly host: TcpHost;
  /** The one index of connections (see the theory of operation). */
  readonly table: FlowTable;
  poller: TcpPoller | undefined;
  /** Listening sockets; listeners[i] is watched under LISTENER_ID_BASE + i (undefined: closed). */
  readonly listeners: Array<Listener | undefined> = [];
  /** Per-port listeners by forwardKey → index in listeners. */
  readonly byKey = new Map<string, number>();
  /** The forwards in force (lookups for all-ports connections). */
  plan: ForwardPlan | undefined;
  readonly secret: SipKey;
  /** The 4-tuple hashed for an ISN (addresses and ports; 36 bytes for IPv6). */
  readonly tuple = new Uint8Array(36);
  /** Connections with work for the next flush (ACK due, data to send or write). */
  dirty = new Set<Conn>();
  flushQueued = false;
  out: Uint8Array[] = [];
  /** Connections whose ACK is delayed, and the one timer that sends them. */
  readonly delayed = new Set<Conn>();
  ackTimer: unknown;
  /** Connections with a deadline, and the tick timer serving them. */
  readonly timed = new Set<Conn>();
  tick: unknown;
  closed = false;
  /** Handing over (migrate.ts): guest segments are dropped silently, nothing is sent. */
  frozen = false;
  /** Build segments with partial checksums (the link offloads them). */
  readonly partial: boolean;
  /** Reused frame memory when the link is done with frames on return. */
  readonly arena: FrameArena | undefined;
  /** (start, length) pairs of one peek's payload regions. */
  readonly iov = new Uint32Array(2 * PEEK_SEGMENTS);
  readonly frameStarts = new Uint32Array(PEEK_SEGMENTS);
  /** Largest TCP frame the link takes beyond the MTU (GuestLink.tsoMax); 0: none. */
  readonly tsoMax: number;
  /** flush() of this core, made once (queued as a promise reaction per batch). */
  readonly flushNow = (): void => flush(this);

  constructor(
    readonly deps: TcpDeps,
    secret: Uint8Array = randomBytes(16),
  ) {
    this.secret = sipKey(secret);
    this.host = deps.host.tcp;
    this.table = deps.table;
    this.partial = deps.checksumOffload === true;
    this.tsoMax = deps.tsoMax ?? 0;
    this.arena = deps.framesReusable === true ? new FrameArena() : undefined;
  }
}

export const addrText = (family: 4 | 6, b: Uint8Array) =>
  family === 4 ? formatIpv4(b) : formatIpv6(b);
export const addrBytes = (family: 4 | 6, s: string) => (family === 4 ? parseIpv4(s) : parseIpv6(s));

/** Every connection in the table (a snapshot: the caller may forget them as it goes). */
export function allConns(s: TcpCore): Conn[] {
  const out: Conn[] = [];
  for (const f of s.table.all()) if (f.type === 'tcp') out.push(f.state as Conn);
  return out;
}

/** The initial sequence number for a 4-tuple (RFC 6528). */
function isn(s: TcpCore, src: Uint8Array, dst: Uint8Array, sp: number, dp: number): number {
  const b = s.tuple;
  b.set(src, 0);
  b.set(dst, src.length);
  const o = src.length + dst.length;
  b[o] = sp >>> 8;
  b[o + 1] = sp & 0xff;
  b[o + 2] = dp >>> 8;
  b[o + 3] = dp & 0xff;
  const [f] = siphash24(s.secret, b.subarray(0, o + 4));
  return (f + Math.floor(s.deps.now() * 250)) >>> 0; // RFC 6528 §3: M is a 4 µs timer
}

/** A connection record, not registered yet. */
export function newConn(
  s: TcpCore,
  family: 4 | 6,
  guest: Uint8Array,
  remote: Uint8Array,
  guestPort: number,
  remotePort: number,
  sock: TcpSock,
  inbound: boolean,
): Conn {
  const mac = s.deps.guestMac() ?? new Uint8Array(6).fill(0xff);
  const iss = isn(s, guest, remote, guestPort, remotePort);
  const now = s.deps.now();
  return {
    family,
    tpl: segmentTemplate(
      family,
      s.deps.ourMac,
      mac,
      remote,
      guest,
      remotePort,
      guestPort,
      s.partial,
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

/** Puts a new connection in the flow table; false (counted) when the table is full. */
export function register(
  s: TcpCore,
  c: Conn,
  sides: readonly [FlowSide, FlowSide],
  inbound: boolean,
): boolean {
  const pif = inbound ? (['host', 'guest'] as const) : (['guest', 'host'] as const);
  const flow = s.table.insert('tcp', pif, sides, c, s.deps.now(), INACTIVITY_MS);
  if (!flow) {
    s.counters.tableFull++;
    return false;
  }
  c.flow = flow;
  return true;
}

// -----------------------------------------------------------------------------------------------
// Teardown

/** Both directions done: close the socket, linger briefly for retransmitted FINs. */
export function maybeFinished(s: TcpCore, c: Conn): void {
  if (c.state === 'closed' || !c.guestFin || !c.finAcked || !c.shut) return;
  c.state = 'closed';
  setDeadline(s, c, undefined);
  consumeAcked(s, c);
  closeSocket(s, c, false);
  if (c.flow) {
    c.flow.timeoutMs = LINGER_MS;
    c.flow.lastActivityMs = s.deps.now();
  }
}

/** Drops what the guest acknowledged from the head of the socket's queue. */
export function consumeAcked(s: TcpCore, c: Conn): void {
  if (c.unconsumed === 0 || c.sock === undefined) return;
  const r = s.host.consume(c.sock, c.unconsumed);
  if (r <= 0) return;
  c.unconsumed -= r;
  c.peekOff = Math.max(0, c.peekOff - r);
}

function closeSocket(s: TcpCore, c: Conn, reset: boolean): void {
  if (c.sock === undefined) return;
  s.host.close(c.sock, reset); // also leaves the epoll set
  c.sock = undefined;
}

/**
 * Resets the host connection (the guest reset, gave up or went away) and drops the flow; `why`
 * is the close reason the flow log shows.
 */
export function resetHost(
  s: TcpCore,
  c: Conn,
  reason: 'closed' | 'expired' = 'closed',
  why?: string,
): void {
  if (c.sock !== undefined) {
    s.counters.resetsToHost++;
    closeSocket(s, c, true);
  }
  forget(s, c, reason, why);
}

/** The host side failed: drop the flow (the RST to the guest was sent by the caller). */
export function finish(s: TcpCore, c: Conn, why?: string): void {
  closeSocket(s, c, false);
  forget(s, c, 'closed', why);
}

/** Drops a connection: its timers, queues, socket and flow. */
export function forget(
  s: TcpCore,
  c: Conn,
  reason: 'closed' | 'expired' = 'closed',
  why?: string,
): void {
  c.state = 'closed';
  c.ooo = [];
  c.pending = [];
  c.pendingBytes = 0;
  setDeadline(s, c, undefined);
  s.dirty.delete(c);
  s.delayed.delete(c);
  closeSocket(s, c, false);
  if (c.flow) {
    s.table.remove(c.flow, reason, why);
    c.flow = undefined;
  }
}

// TCP translation, host → guest: readiness of host sockets, peeking their data into segments, FIN/RST and frames to the guest.
//
// Theory of operation (host → guest; the whole is in conn.ts)
// ===========================================================
//
// Peeking (passt's design, facts-passt §1.3). Bytes the guest has not acknowledged stay in the
// kernel's receive queue: they are peeked (MSG_PEEK at an offset, SO_PEEK_OFF) straight into the
// payload room of the frames that carry them — the only copy in user space — and dropped from the
// queue without a copy (MSG_TRUNC) when the guest acknowledges them. So the host socket's own
// receive window is our flow control towards the host peer, and memory per connection is the
// kernel's. One peek fills up to PEEK_SEGMENTS segments of at most the guest's MSS, never beyond
// the guest's window (scaled by its shift, RFC 7323 §2.3); PSH marks the last of a peek. One
// flush peeks at most PUMP_BYTES from one connection before the others get their turn.
//
// Frames. Every segment is laid out from the connection's template (frame.ts). On a link that
// offloads checksums (an offloading tap) the payload is not summed at all, and on a link that is
// done with frames when send returns (a tap) the frames come from a reused arena. Every segment
// carries the current ACK and window, so it also answers a delayed ACK (from-guest.ts).
//
// End of stream. A peek that finds the end of the stream becomes a FIN after the data (RFC 9293
// §3.6); a host error (reset, unreachable, keepalive timeout) becomes an RST.
//
// Readiness. Sockets are watched edge-triggered through one epoll set (native/tcp.c), each under
// its flow's id (listening sockets above every flow id): a readiness event marks that more may
// be queued, and every ACK or window update from the guest tries again, so nothing waits for an
// edge that already passed.
//
// Batches. Work found while handling the guest's frames or the readiness events of one
// event-loop turn marks connections dirty; one flush at the end of the batch (a promise reaction)
// writes their guest data to the sockets, peeks what the guest's window allows, sends due ACKs
// and hands every frame to the link at once.
import { ETHERNET_HEADER_LEN } from '../../../wire/ethernet.js';
import { TcpFlag, type TcpRepr } from '../../../wire/tcp.js';
import { seqAdd, seqDiff, seqGt, seqGe, seqLt } from '../../../wire/seq.js';
import { Errno, TcpEvent, type TcpSock } from '../../host/tcp.js';
import {
  buildSegment,
  dataOffset,
  finishDataSegment,
  retarget,
  segmentTemplate,
  type SegmentHeader,
  type SegmentTemplate,
  type SynOptions,
} from './frame.js';
import {
  LISTENER_ID_BASE,
  PEEK_SEGMENTS,
  PUMP_BYTES,
  consumeAcked,
  finish,
  type Conn,
  type TcpCore,
} from './conn.js';
import { flushWrites, sackBlocks, window } from './from-guest.js';
import { acceptAll, connected } from './open.js';
import { setDeadline } from './recovery.js';

/** Settled once: `.then` on it queues a plain microtask. */
const RESOLVED = Promise.resolve();

/** Watches a host socket under `id`, opening the epoll set on first use. */
export function watch(s: TcpCore, sock: TcpSock, id: number, mask: number): void {
  if (s.poller === undefined) {
    const p = s.host.poller();
    p.onError((e) => s.deps.log?.(`tcp: host socket polling failed: ${e.message}`));
    p.onEvents((ev, n) => onEvents(s, ev, n));
    s.poller = p;
  }
  s.poller.watch(sock, id, mask);
}

/** A ready list from the epoll set: (id, TcpEvent bits) pairs. */
function onEvents(s: TcpCore, ev: Uint32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const id = ev[2 * i]!;
    if (id >= LISTENER_ID_BASE) {
      const l = s.listeners[id - LISTENER_ID_BASE];
      if (l !== undefined) acceptAll(s, l);
      continue;
    }
    const f = s.table.get<Conn>(id);
    if (f === undefined || f.type !== 'tcp') continue;
    hostEvent(s, f.state, ev[2 * i + 1]!);
  }
}

function hostEvent(s: TcpCore, c: Conn, m: number): void {
  if (c.sock === undefined || c.state === 'closed') return;
  if (m & (TcpEvent.In | TcpEvent.RdHup | TcpEvent.Hup)) c.moreData = true;
  if (m & (TcpEvent.RdHup | TcpEvent.Hup)) c.hostFinSignalled = true;
  if (c.state === 'connecting') {
    if (!(m & (TcpEvent.Out | TcpEvent.Err | TcpEvent.Hup))) return;
    const err = s.host.socketError(c.sock!);
    if (err === 0 && !(m & TcpEvent.Hup)) return connected(s, c);
    // Refused or failed: the guest sees "connection refused" at once.
    s.counters.refused++;
    segmentRst(s, c.tpl, 0, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
    finish(s, c, 'refused');
    return;
  }
  if (m & TcpEvent.Err) {
    const err = s.host.socketError(c.sock!);
    if (err !== 0) return hostFailed(s, c);
  }
  markDirty(s, c);
}

/** The host connection failed (reset, unreachable, keepalive timeout): RST to the guest. */
export function hostFailed(s: TcpCore, c: Conn): void {
  if (c.state === 'closed') return;
  if (c.state === 'syn-sent') {
    segmentRst(s, c.tpl, seqAdd(c.iss, 1), c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
  } else {
    s.counters.resetsToGuest++;
    segmentRst(s, c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
  }
  finish(s, c, 'host-reset');
}

export function markDirty(s: TcpCore, c: Conn): void {
  s.dirty.add(c);
  scheduleFlush(s);
}

/** Flushes once the current batch (the caller's event and its microtasks) is done. */
function scheduleFlush(s: TcpCore): void {
  if (s.flushQueued) return;
  s.flushQueued = true;
  // A promise reaction rather than queueMicrotask, which makes an AsyncResource per call.
  void RESOLVED.then(s.flushNow);
}

/** End of a batch: write guest data to the sockets, send data and due ACKs, frames to the link. */
export function flush(s: TcpCore): void {
  s.flushQueued = false;
  const dirty = s.dirty;
  s.dirty = new Set();
  for (const c of dirty) {
    if (c.sock !== undefined && (c.state === 'established' || c.state === 'closed'))
      flushWrites(s, c);
    if (c.state === 'established') pump(s, c);
    if (c.ackDue) sendAck(s, c);
  }
  sendOut(s);
}

/** Hands the queued frames to the link. */
export function sendOut(s: TcpCore): void {
  if (s.out.length === 0) return;
  const frames = s.out;
  s.out = [];
  s.deps.toGuest(frames, s.partial);
  s.arena?.reset();
}

/** A segment without payload (from the arena when there is one). */
export function build(
  s: TcpCore,
  t: SegmentTemplate,
  h: SegmentHeader,
  syn?: SynOptions,
  sack?: readonly (readonly [number, number])[],
): Uint8Array {
  return buildSegment(t, h, 0, undefined, syn, sack, s.arena?.alloc);
}

/** Queues a segment of connection `c` for the guest. */
export function emit(s: TcpCore, c: Conn, frame: Uint8Array): void {
  c.lastAckSent = c.rcvNxt;
  // This segment carries the ACK a delayed one was waiting for (data going back, usually).
  // The timer stays: clearing and re-arming it per exchange costs more than one idle expiry.
  if (s.delayed.size > 0) s.delayed.delete(c);
  const mac = s.deps.guestMac();
  if (mac && mac !== c.tpl.mac && !equalBytes(mac, c.tpl.mac)) {
    retarget(c.tpl, mac);
    frame.set(mac, 0);
  }
  s.counters.segmentsOut++;
  s.out.push(frame);
  scheduleFlush(s);
}

export function sendAck(s: TcpCore, c: Conn): void {
  c.ackDue = false;
  if (c.state === 'connecting' || c.state === 'syn-sent') return;
  const w = window(c);
  emit(
    s,
    c,
    build(
      s,
      c.tpl,
      { seq: c.sndNxt, ack: c.rcvNxt, flags: TcpFlag.ACK, window: w },
      undefined,
      sackBlocks(c),
    ),
  );
}

export function sendFin(s: TcpCore, c: Conn, seq: number): void {
  emit(
    s,
    c,
    build(s, c.tpl, {
      seq,
      ack: c.rcvNxt,
      flags: TcpFlag.FIN | TcpFlag.ACK,
      window: window(c),
    }),
  );
  c.ackDue = false;
}

/**
 * Sends what the guest's window allows: bytes sent before and rewound (after a timeout), then
 * new bytes while the socket may hold more, then the FIN when the host's stream has ended.
 */
export function pump(s: TcpCore, c: Conn): void {
  if (c.sock === undefined) return;
  consumeAcked(s, c);
  const wndEnd = seqAdd(c.sndUna, c.sndWnd);
  let budget = PUMP_BYTES;
  for (;;) {
    if (c.hostEof && !seqLt(c.sndNxt, c.finSeq)) {
      // FIN right after the last byte (sent again after a rewind).
      if (c.sndNxt === c.finSeq && !c.finAcked) {
        sendFin(s, c, c.finSeq);
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
    const n = peekSegments(s, c, c.sndNxt, want);
    if (n === 0) {
      // The end of the host's stream: the FIN goes right after what was sent.
      c.hostEof = true;
      c.finSeq = c.sndNxt;
      c.moreData = false;
      continue;
    }
    if (n < 0) {
      c.moreData = false;
      if (-n !== Errno.EAGAIN) hostFailed(s, c);
      break;
    }
    c.sndNxt = seqAdd(c.sndNxt, n);
    if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
    budget -= n;
    // A short peek ran the queue dry; once the peer's FIN was signalled, peek once more to
    // find the end of the stream (its edge has passed and will not come again). A peek that
    // filled all its segments is not short: more may be queued (small MSS, no TSO).
    const asked = Math.min(want, PEEK_SEGMENTS * segmentSize(s, c));
    if (n < asked && !resend && !c.hostFinSignalled) c.moreData = false;
  }
  if (c.sock === undefined) return;
  const outstanding = c.sndUna !== c.sndMax;
  if (outstanding && c.deadline === undefined) setDeadline(s, c, s.deps.now() + c.rto);
  else if (!outstanding && c.moreData && c.sndWnd === 0 && c.deadline === undefined)
    setDeadline(s, c, s.deps.now() + c.rto); // zero-window probe
}

/**
 * The payload of one segment peekSegments cuts: the guest's MSS, or on a link with TCP
 * segmentation offload the link's largest frame less the headers. IPv4's total length caps a
 * frame's payload at 65535 minus its IP and TCP headers.
 */
function segmentSize(s: TcpCore, c: Conn): number {
  const head = dataOffset(c.tpl);
  return s.tsoMax > head + c.mss ? Math.min(s.tsoMax, 65535 + ETHERNET_HEADER_LEN) - head : c.mss;
}

/**
 * Peeks up to `want` bytes starting at `seq` (at or after sndUna) into segments of at most
 * the guest's MSS — or, on a link with TCP segmentation offload, of up to the link's largest
 * frame, which the guest takes as MSS-sized segments — and queues them for the guest. Returns
 * the bytes sent, 0 at the end of the host's stream, or −errno (−EAGAIN: nothing queued there
 * yet).
 */
export function peekSegments(s: TcpCore, c: Conn, seq: number, want: number): number {
  const t = c.tpl;
  const head = dataOffset(t);
  const mss = segmentSize(s, c);
  const count = Math.min(PEEK_SEGMENTS, Math.ceil(want / mss));
  want = Math.min(want, count * mss);
  const iov = s.iov;
  const starts = s.frameStarts;
  let size = 0;
  for (let i = 0; i < count; i++) {
    const len = Math.min(mss, want - i * mss);
    starts[i] = size;
    iov[2 * i] = size + head;
    iov[2 * i + 1] = len;
    size = (size + head + len + 7) & ~7;
  }
  const chunk = s.arena ? s.arena.alloc(size) : Buffer.allocUnsafe(size);
  const off = seqDiff(seq, c.sndUna);
  s.counters.peeks++;
  const n = s.host.peek(c.sock!, chunk, iov, count, off === c.peekOff ? -1 : off);
  c.peekOff = off;
  if (n <= 0) return n;
  c.peekOff = off + n;
  const wnd = window(c);
  const segs = Math.ceil(n / mss);
  const timed = c.rttSeq === undefined && seqGe(seq, c.sndMax);
  for (let i = 0; i < segs; i++) {
    const len = Math.min(mss, n - i * mss);
    const q = seqAdd(seq, i * mss);
    const frame = chunk.subarray(starts[i]!, starts[i]! + head + len);
    const last = i === segs - 1;
    finishDataSegment(t, frame, {
      seq: q,
      ack: c.rcvNxt,
      flags: TcpFlag.ACK | (last ? TcpFlag.PSH : 0),
      window: wnd,
    });
    emit(s, c, frame);
  }
  c.ackDue = false;
  s.counters.bytesToGuest += n;
  if (c.flow) {
    c.flow.bytesOut += n;
    c.flow.packetsOut += segs;
  }
  if (timed) {
    c.rttSeq = seqAdd(seq, n);
    c.rttAt = s.deps.now();
  }
  return n;
}

/** Queues an RST (or RST+ACK) built from `tpl`, for a connection or for none. */
export function segmentRst(
  s: TcpCore,
  tpl: SegmentTemplate,
  seq: number,
  ack: number,
  flags: number,
): void {
  s.counters.segmentsOut++;
  s.out.push(build(s, tpl, { seq, ack, flags, window: 0 }));
  scheduleFlush(s);
}

/**
 * The template of an answer to the guest's segment `seg` (`src` → `dst`), outside any
 * connection: addresses and ports swapped; the broadcast MAC while the guest's is unknown.
 */
export function replyTemplate(
  s: TcpCore,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  seg: TcpRepr,
): SegmentTemplate {
  return segmentTemplate(
    family,
    s.deps.ourMac,
    s.deps.guestMac() ?? new Uint8Array(6).fill(0xff),
    dst,
    src,
    seg.dstPort,
    seg.srcPort,
    s.partial,
  );
}

/** RFC 9293 §3.10.7.1: a segment for no connection gets a reset (unless it is one). */
export function resetUnknown(
  s: TcpCore,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  seg: TcpRepr,
  len: number,
): void {
  if (seg.flags & TcpFlag.RST) return;
  const tpl = replyTemplate(s, family, src, dst, seg);
  if (seg.flags & TcpFlag.ACK) segmentRst(s, tpl, seg.ack, 0, TcpFlag.RST);
  else {
    const segLen = len + (seg.flags & TcpFlag.SYN ? 1 : 0) + (seg.flags & TcpFlag.FIN ? 1 : 0);
    segmentRst(s, tpl, 0, seqAdd(seg.seq, segLen), TcpFlag.RST | TcpFlag.ACK);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

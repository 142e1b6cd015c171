// TCP translation, guest → host: segments from the guest, their ACKs and windows, data queued for the host socket.
//
// Theory of operation (guest → host; the whole is in conn.ts)
// ===========================================================
//
// Finding the connection. A segment's guest-side 4-tuple is looked up in the flow table from the
// frame's address bytes (nothing formatted per segment). A SYN for no connection opens one
// (open.ts); any other segment for no connection gets an RST (RFC 9293 §3.10.7.1). A SYN on the
// 4-tuple of a connection that lingers after its close starts a new one (RFC 6191 accepts it).
//
// ACKs and windows (RFC 9293 §3.10.7.4). An ACK beyond what was sent is answered with an ACK and
// ignored. A new ACK moves sndUna, takes an RTT sample, restarts the retransmission timer and
// leaves the acknowledged bytes to be dropped from the host socket's queue before its next peek
// (to-guest.ts). An ACK that carries nothing and leaves the window as it was is a duplicate
// (RFC 5681 §2): the third starts fast retransmit (recovery.ts). Resets are accepted only with a
// sequence number in the window (RFC 5961 §3.2).
//
// Data. A segment at rcvNxt is queued for the socket as it is (a view of the frame, no copy); at
// the end of the batch each connection's queued payloads go out in one sendmsg. What the kernel
// does not take at once is copied and written when the socket signals room again. Old data is
// trimmed (retransmissions) and answered with an ACK; segments beyond rcvNxt inside the window
// are copied into an out-of-order list and answered at once with a duplicate ACK carrying SACK
// blocks (RFC 2018 §4), so the guest retransmits only the hole. The window we advertise is what
// may still wait in our own queue (RECV_BUFFER bytes less what waits there and out of order); its
// right edge never moves left (RFC 9293 §3.8.6.2.2). When a blocked queue drains a window update
// goes out. A guest FIN ends the socket's write side once the queue is written (half-close); a
// guest RST resets the host connection (SO_LINGER 0).
//
// Delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2). ACKs go at the end of the batch for every
// second full segment, a FIN or a filled gap; a lone small segment's ACK waits ACK_DELAY_MS so
// that the reply (request/response traffic) carries it instead.
import { TcpFlag, type TcpRepr } from '../../../wire/tcp.js';
import { seqAdd, seqDiff, seqGt, seqLt, seqLe, seqGe } from '../../../wire/seq.js';
import { Errno } from '../../host/tcp.js';
import {
  ACK_DELAY_MS,
  RECV_BUFFER,
  RTO_INIT_MS,
  forget,
  maybeFinished,
  resetHost,
  type Conn,
  type TcpCore,
} from './conn.js';
import { open, sendSynAck, takeSynOptions } from './open.js';
import { hostFailed, markDirty, resetUnknown, segmentRst, sendAck, sendOut } from './to-guest.js';
import { retransmitOne, rttSample, setDeadline } from './recovery.js';

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
export function fromGuest(
  s: TcpCore,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  seg: TcpRepr,
  payload: Uint8Array,
): void {
  if (s.closed) return;
  s.counters.segmentsIn++;
  if (s.frozen) {
    // Handing over (migrate.ts): no RST, the flows live on in another translator.
    s.counters.dropped++;
    return;
  }
  const flow = s.table.lookupBytes<Conn>('tcp', 'guest', src, seg.srcPort, dst, seg.dstPort);
  let c = flow === undefined ? undefined : flow.state;
  if (c && c.state === 'closed' && (seg.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) {
    // A new connection reusing the 4-tuple of one that is lingering (RFC 6191 accepts it).
    forget(s, c, 'closed', 'fin');
    c = undefined;
  }
  if (!c) {
    if ((seg.flags & (TcpFlag.SYN | TcpFlag.ACK | TcpFlag.RST)) === TcpFlag.SYN) {
      open(s, family, src, dst, seg);
      return;
    }
    s.counters.dropped++;
    resetUnknown(s, family, src, dst, seg, payload.length);
    return;
  }
  c.lastGuestMs = s.deps.now();
  c.keepaliveSent = 0;
  if (c.flow) c.flow.lastActivityMs = c.lastGuestMs;
  segment(s, c, seg, payload);
}

function segment(s: TcpCore, c: Conn, seg: TcpRepr, payload: Uint8Array): void {
  const f = seg.flags;
  if (f & TcpFlag.RST) {
    // RFC 9293 §3.10.7.4 / RFC 5961 §3.2: accept a reset whose seq is in the window.
    const inWin =
      c.state === 'syn-sent'
        ? (f & TcpFlag.ACK) !== 0 && seg.ack === seqAdd(c.iss, 1)
        : seqGe(seg.seq, c.rcvNxt) && seqLe(seg.seq, c.rcvEdge);
    if (inWin) resetHost(s, c, 'closed', 'guest-reset');
    return;
  }
  if (f & TcpFlag.SYN) return syn(s, c, seg);
  if (!(f & TcpFlag.ACK)) {
    s.counters.dropped++;
    return;
  }
  if (c.state === 'closed') {
    // Lingering: re-acknowledge whatever the guest repeats (its FIN, typically).
    if (payload.length > 0 || f & TcpFlag.FIN) sendAck(s, c);
    return;
  }
  if (c.state === 'syn-rcvd') {
    if (seg.ack !== seqAdd(c.iss, 1)) {
      s.counters.dropped++;
      segmentRst(s, c.tpl, seg.ack, 0, TcpFlag.RST);
      return;
    }
    c.state = 'established';
    c.sndUna = seg.ack;
    c.retries = 0;
    setDeadline(s, c, undefined);
  } else if (c.state !== 'established') {
    s.counters.dropped++;
    return;
  }
  ack(s, c, seg, payload.length);
  if (payload.length > 0 || f & TcpFlag.FIN) data(s, c, seg.seq, payload, (f & TcpFlag.FIN) !== 0);
  markDirty(s, c);
}

/** A SYN on an existing connection: the guest's SYN-ACK (inbound) or a repeated SYN. */
function syn(s: TcpCore, c: Conn, seg: TcpRepr): void {
  const f = seg.flags;
  if (c.state === 'syn-sent') {
    if (!(f & TcpFlag.ACK) || seg.ack !== seqAdd(c.iss, 1)) {
      s.counters.dropped++;
      return;
    }
    takeSynOptions(s, c, seg);
    c.irs = seg.seq;
    c.rcvNxt = seqAdd(seg.seq, 1);
    c.rcvEdge = c.rcvNxt;
    c.sndUna = seg.ack;
    c.sndNxt = c.sndMax = seg.ack;
    c.sndWnd = seg.window; // never scaled on a SYN (RFC 7323 §2.2)
    c.state = 'established';
    c.retries = 0;
    c.rto = RTO_INIT_MS;
    setDeadline(s, c, undefined);
    s.counters.inbound++;
    c.ackDue = true;
    c.moreData = true; // the host may have written before the guest answered
    markDirty(s, c);
    return;
  }
  if (f & TcpFlag.ACK) {
    // A repeated SYN-ACK: our ACK of it was lost and the guest waits in SYN-RECEIVED; if no
    // data is due to carry one, only this ACK completes its handshake. Any other SYN-ACK on a
    // synchronized connection gets the same challenge ACK (RFC 9293 §3.10.7.4, RFC 5961 §4).
    if (c.state === 'established' || c.state === 'closed') sendAck(s, c);
    else s.counters.dropped++;
    return;
  }
  // A repeated SYN: the SYN-ACK was lost (answer again) or the connect is still pending.
  if (c.state === 'syn-rcvd' && seg.seq === c.irs) sendSynAck(s, c);
  else if (c.state === 'established' || c.state === 'closed') sendAck(s, c); // RFC 5961 §4
}

/** Bytes of host data between sndUna and the end of what is known to be queued. */
export function knownData(c: Conn): number {
  return seqDiff(c.hostEof ? c.finSeq : c.sndMax, c.sndUna);
}

/** Processes the acknowledgment and window of a guest segment (RFC 9293 §3.10.7.4, fifth). */
function ack(s: TcpCore, c: Conn, seg: TcpRepr, payloadLen: number): void {
  const ack = seg.ack;
  if (seqGt(ack, c.sndMax)) {
    // Acknowledges something never sent: answer with an ACK and ignore it.
    sendAck(s, c);
    return;
  }
  const wnd = seg.window << c.wsIn;
  if (seqGt(ack, c.sndUna)) {
    const acked = seqDiff(ack, c.sndUna);
    const dataAcked = Math.min(acked, knownData(c));
    c.unconsumed += dataAcked; // dropped from the socket before its next peek
    if (c.hostEof && acked > dataAcked) c.finAcked = true;
    c.sndUna = ack;
    if (seqLt(c.sndNxt, ack)) c.sndNxt = ack;
    c.dupAcks = 0;
    c.retries = 0;
    if (c.rttSeq !== undefined && seqGe(ack, c.rttSeq)) {
      rttSample(c, s.deps.now() - c.rttAt);
      c.rttSeq = undefined;
    }
    if (c.recover !== undefined) {
      if (seqGe(ack, c.recover)) c.recover = undefined;
      else retransmitOne(s, c); // partial ACK: the next hole (RFC 6582 §3.2 step 3)
    }
    c.sndWnd = wnd;
    setDeadline(s, c, c.sndUna !== c.sndMax ? s.deps.now() + c.rto : undefined);
    if (c.finAcked) maybeFinished(s, c);
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
      s.counters.fastRetransmits++;
      c.recover = c.sndMax;
      retransmitOne(s, c);
    }
    return;
  }
  if (ack === c.sndUna) c.sndWnd = wnd;
}

/** Guest data (and FIN) at `seq`. */
function data(s: TcpCore, c: Conn, seq: number, payload: Uint8Array, fin: boolean): void {
  if (c.guestFin) {
    c.ackDue = true;
    return;
  }
  let q = seq;
  let p = payload;
  const old = seqDiff(c.rcvNxt, q);
  if (old > 0) {
    if (old >= p.length && !(fin && old === p.length)) {
      // Entirely old: a retransmission or a keepalive. Acknowledge at once.
      s.counters.duplicates++;
      sendAck(s, c);
      return;
    }
    p = p.subarray(Math.min(old, p.length));
    q = c.rcvNxt;
  }
  // Trim what lies beyond the window we offered (RFC 9293 §3.10.7.4, first check).
  const room = seqDiff(c.rcvEdge, q);
  if (room < p.length) {
    if (room <= 0 && p.length > 0) {
      s.counters.dropped++;
      sendAck(s, c);
      return;
    }
    p = p.subarray(0, Math.max(0, room));
    fin = false;
  }
  if (q !== c.rcvNxt) {
    storeOutOfOrder(s, c, q, p, fin);
    sendAck(s, c); // duplicate ACK with SACK blocks
    return;
  }
  const fillsGap = c.ooo.length > 0;
  if (p.length > c.rcvMss) c.rcvMss = p.length;
  deliver(s, c, p, false, fin);
  while (c.ooo.length > 0 && !c.guestFin) {
    const o = c.ooo[0]!;
    const skip = seqDiff(c.rcvNxt, o.seq);
    if (skip < 0) break;
    c.ooo.shift();
    c.oooBytes -= o.data.length;
    if (skip >= o.data.length && !(o.fin && skip === o.data.length)) continue;
    deliver(s, c, o.data.subarray(Math.min(skip, o.data.length)), true, o.fin);
  }
  // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: acknowledge at once every second full segment and a
  // segment that fills a gap; otherwise wait ACK_DELAY_MS for data going back to carry the ACK
  // (a request/response exchange then costs no pure ACK at all). A FIN waits too: the host
  // peer's own FIN, which usually follows at once, carries it.
  if (fillsGap || seqDiff(c.rcvNxt, c.lastAckSent) >= 2 * c.rcvMss) c.ackDue = true;
  else delayAck(s, c);
}

/** Holds the ACK back ACK_DELAY_MS from the first unacknowledged segment (emit() cancels it). */
function delayAck(s: TcpCore, c: Conn): void {
  if (s.delayed.has(c)) return;
  c.ackAt = s.deps.now() + ACK_DELAY_MS;
  s.delayed.add(c);
  if (s.ackTimer === undefined && !s.closed) armAckTimer(s, ACK_DELAY_MS);
}

function armAckTimer(s: TcpCore, ms: number): void {
  s.ackTimer = s.deps.setTimer(() => onAckTimer(s), ms);
}

function onAckTimer(s: TcpCore): void {
  s.ackTimer = undefined;
  const now = s.deps.now();
  let next = Infinity;
  for (const d of s.delayed) {
    if (d.ackAt > now) {
      next = Math.min(next, d.ackAt);
      continue;
    }
    s.delayed.delete(d);
    if (d.state !== 'connecting' && d.state !== 'syn-sent' && d.lastAckSent !== d.rcvNxt)
      sendAck(s, d);
  }
  if (s.delayed.size > 0 && !s.closed) armAckTimer(s, Math.max(0, next - now));
  sendOut(s);
}

/** Queues in-order guest data for the host socket (written at the end of the batch). */
function deliver(s: TcpCore, c: Conn, p: Uint8Array, owned: boolean, fin: boolean): void {
  if (p.length > 0) {
    c.pending.push({ data: p, owned });
    c.pendingBytes += p.length;
    c.rcvNxt = seqAdd(c.rcvNxt, p.length);
    s.counters.bytesFromGuest += p.length;
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

function storeOutOfOrder(s: TcpCore, c: Conn, seq: number, p: Uint8Array, fin: boolean): void {
  if (p.length === 0 && !fin) return;
  s.counters.outOfOrder++;
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
export function sackBlocks(c: Conn): [number, number][] | undefined {
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

/** The window to advertise now (bytes), never moving the right edge left. */
export function window(c: Conn): number {
  const free = Math.max(0, RECV_BUFFER - c.pendingBytes - c.oooBytes);
  const edge = seqAdd(c.rcvNxt, free);
  if (seqGt(edge, c.rcvEdge)) c.rcvEdge = edge;
  const wnd = seqDiff(c.rcvEdge, c.rcvNxt);
  return Math.min(0xffff, wnd >>> c.wsOut);
}

/** Writes the guest data the socket has not taken; shuts the write side after a guest FIN. */
export function flushWrites(s: TcpCore, c: Conn): void {
  if (c.pendingBytes > 0) {
    const q = c.pending;
    let n = s.host.send(
      c.sock!,
      q.map((x) => x.data),
    );
    if (n < 0) {
      if (-n !== Errno.EAGAIN) return hostFailed(s, c);
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
      if (!c.writeBlocked) s.counters.writesBlocked++;
      c.writeBlocked = true;
      return;
    }
    if (c.writeBlocked) {
      // The queue drained: tell the guest its window opened again.
      c.writeBlocked = false;
      if (!c.guestFin && seqDiff(c.rcvEdge, c.rcvNxt) < RECV_BUFFER / 2) {
        s.counters.windowUpdates++;
        c.ackDue = true;
      }
    }
  }
  if (c.guestFin && !c.shut) {
    c.shut = true;
    s.host.shutdown(c.sock!);
    maybeFinished(s, c);
  }
}

// TCP translation, loss recovery and timers: RTT and RTO, retransmission, fast retransmit, the tick, zero-window probes, keepalive and expiry.
//
// Theory of operation (loss recovery and timers; the whole is in conn.ts)
// =======================================================================
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
// an ACK with seq = sndNxt − 1, which the guest must answer with its window) at RTO intervals;
// probes do not count toward giving up (RFC 9293 §3.8.6.1). Keepalive: after KEEPALIVE_MS
// without a segment from the guest an established connection gets a keepalive probe;
// KEEPALIVE_PROBES unanswered probes reset it (dead guest). Host sockets use SO_KEEPALIVE. Any
// connection idle for INACTIVITY_MS is reset (flow table expiry; passt: 2 h), and a finished one
// is forgotten once it lingered LINGER_MS.
import { TcpFlag } from '../../../wire/tcp.js';
import { seqAdd, seqDiff } from '../../../wire/seq.js';
import { Errno } from '../../host/tcp.js';
import {
  KEEPALIVE_MS,
  KEEPALIVE_PROBES,
  MAX_RETRIES,
  RTO_MAX_MS,
  RTO_MIN_MS,
  SYN_RETRIES,
  TICK_MS,
  allConns,
  consumeAcked,
  forget,
  resetHost,
  type Conn,
  type TcpCore,
} from './conn.js';
import { knownData, window } from './from-guest.js';
import { sendSyn, sendSynAck } from './open.js';
import {
  build,
  emit,
  hostFailed,
  peekSegments,
  pump,
  segmentRst,
  sendFin,
  sendOut,
} from './to-guest.js';

/** Takes an RTT sample `r` (ms) into SRTT, RTTVAR and the RTO. */
export function rttSample(c: Conn, r: number): void {
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

/** Sets (or clears, undefined) the connection's one deadline, arming the tick when needed. */
export function setDeadline(s: TcpCore, c: Conn, at: number | undefined): void {
  c.deadline = at;
  if (at === undefined) {
    s.timed.delete(c);
    return;
  }
  s.timed.add(c);
  if (s.tick === undefined && !s.closed) armTick(s);
}

function armTick(s: TcpCore): void {
  s.tick = s.deps.setTimer(() => {
    s.tick = undefined;
    onTick(s);
    if (s.timed.size > 0 && !s.closed) armTick(s);
  }, TICK_MS);
}

function onTick(s: TcpCore): void {
  const now = s.deps.now();
  for (const c of [...s.timed]) {
    if (c.deadline === undefined || c.deadline > now) continue;
    timeout(s, c, now);
  }
  sendOut(s);
}

function timeout(s: TcpCore, c: Conn, now: number): void {
  c.deadline = undefined;
  s.timed.delete(c);
  c.retries++;
  const limit = c.state === 'syn-sent' || c.state === 'syn-rcvd' ? SYN_RETRIES : MAX_RETRIES;
  if (c.retries > limit) {
    s.counters.resetsToGuest++;
    segmentRst(s, c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
    resetHost(s, c, 'closed', 'retries');
    return;
  }
  c.rto = Math.min(RTO_MAX_MS, c.rto * 2);
  c.rttSeq = undefined;
  switch (c.state) {
    case 'syn-sent':
      s.counters.timeouts++;
      return sendSyn(s, c);
    case 'syn-rcvd':
      s.counters.timeouts++;
      return sendSynAck(s, c);
    case 'established':
      break;
    default:
      return;
  }
  if (c.sndUna === c.sndMax) {
    // Nothing in flight: a zero-window probe the guest must answer with its window.
    if (c.moreData && c.sndWnd === 0) {
      c.retries = 0; // probes do not count toward giving up (RFC 9293 §3.8.6.1)
      s.counters.zeroWindowProbes++;
      probe(s, c);
      setDeadline(s, c, now + c.rto);
    }
    return;
  }
  s.counters.timeouts++;
  s.counters.retransmits++;
  c.sndNxt = c.sndUna; // go back to the first unacknowledged byte
  c.recover = undefined;
  c.dupAcks = 0;
  setDeadline(s, c, now + c.rto);
  const wnd = c.sndWnd;
  if (wnd === 0) c.sndWnd = Math.min(c.mss, Math.max(1, knownData(c))); // one segment
  pump(s, c);
  c.sndWnd = wnd;
}

/** Resends one segment at sndUna (fast retransmit, partial ACK). */
export function retransmitOne(s: TcpCore, c: Conn): void {
  c.rttSeq = undefined; // Karn
  consumeAcked(s, c);
  const avail = Math.min(knownData(c), seqDiff(c.sndMax, c.sndUna));
  if (avail > 0) {
    s.counters.retransmits++;
    const n = peekSegments(s, c, c.sndUna, Math.min(avail, c.mss));
    if (n < 0 && -n !== Errno.EAGAIN) return hostFailed(s, c);
  } else if (c.hostEof && !c.finAcked) {
    sendFin(s, c, c.sndUna);
  }
  setDeadline(s, c, s.deps.now() + c.rto);
}

/** An ACK one below sndNxt: the guest answers it with an ACK carrying its window. */
function probe(s: TcpCore, c: Conn): void {
  emit(
    s,
    c,
    build(s, c.tpl, {
      seq: seqAdd(c.sndNxt, -1),
      ack: c.rcvNxt,
      flags: TcpFlag.ACK,
      window: window(c),
    }),
  );
}

/**
 * Resets connections idle past INACTIVITY_MS, sends keepalives to quiet guests, resets those
 * whose guest stopped answering, and removes lingering finished flows.
 *
 * @param nowMs - the daemon's clock
 */
export function expire(s: TcpCore, nowMs: number): void {
  for (const c of allConns(s)) {
    const f = c.flow;
    if (f && nowMs - f.lastActivityMs >= f.timeoutMs) {
      if (c.state !== 'closed') {
        s.counters.resetsToGuest++;
        segmentRst(s, c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
        resetHost(s, c, 'expired', 'idle');
      } else forget(s, c, 'expired', 'fin');
      continue;
    }
    if (c.state !== 'established' || c.sndUna !== c.sndMax) continue;
    if (nowMs - c.lastGuestMs < KEEPALIVE_MS || nowMs - c.lastKeepaliveMs < KEEPALIVE_MS) continue;
    if (c.keepaliveSent >= KEEPALIVE_PROBES) {
      s.counters.resetsToGuest++;
      segmentRst(s, c.tpl, c.sndNxt, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
      resetHost(s, c, 'closed', 'keepalive');
      continue;
    }
    c.keepaliveSent++;
    c.lastKeepaliveMs = nowMs;
    s.counters.keepalives++;
    probe(s, c);
  }
  sendOut(s);
}

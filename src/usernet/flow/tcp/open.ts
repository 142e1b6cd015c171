// TCP translation, opening connections: a guest SYN becomes a host connect, and -t listeners accept host connections and SYN the guest.
//
// Theory of operation (opening; the whole is in conn.ts)
// ======================================================
//
// Opening (RFC 9293 §3.5).
// - Outbound: a guest SYN makes a flow and a non-blocking connect() to the mapped host address
//   (nat.ts: the gateway stands for the pod's loopback). The SYN-ACK goes to the guest only
//   when the connect succeeds; a refused or failed connect becomes RST+ACK, so the guest sees
//   "connection refused" at once. A repeated SYN while connecting is ignored; one after the
//   SYN-ACK gets the SYN-ACK again (from-guest.ts).
// - Inbound (-t): a host connection accepted on a forwarded port makes a flow and a SYN to the
//   guest (the host peer already sees an established connection); nothing is read from the host
//   socket before the guest's SYN-ACK. Host loopback peers appear to come from the
//   --map-host-loopback address. The SYN is resent with backoff, then the host connection is
//   reset (recovery.ts). Listening sockets are not flows: they are kept in a list of their own
//   and watched under ids above every flow id (conn.ts).
// - Options: our SYN/SYN-ACK carries MSS (MTU − IP − 20), SACK-permitted when the guest offered
//   it, and window scale WS_TO_GUEST when the guest offered scaling (RFC 7323 §2.2: both or
//   none). No timestamps (as passt). The ISN is RFC 6528's: a 4 µs clock plus a keyed hash of
//   the 4-tuple (SipHash-2-4 with a random key per translator, as passt; conn.ts).
import type { FlowSide } from '../table.js';
import { guestToHost, hostToGuestSource } from '../nat.js';
import type { SynOptions } from './frame.js';
import { Errno, errnoName, TcpWatch, type Accepted, type TcpSock } from '../../host/tcp.js';
import { BinderyError, ErrorCode } from '../../../errors.js';
import { forwardKey, type Forward, type ForwardPlan } from '../../fwd/forwards.js';
import { TcpFlag, type TcpRepr } from '../../../wire/tcp.js';
import { seqAdd } from '../../../wire/seq.js';
import {
  ACCEPT_BATCH,
  DEFAULT_MSS,
  LISTENER_ID_BASE,
  RECV_BUFFER,
  WATCH_CONN,
  WS_TO_GUEST,
  addrBytes,
  addrText,
  finish,
  newConn,
  register,
  type Conn,
  type Listener,
  type TcpCore,
} from './conn.js';
import { build, emit, replyTemplate, segmentRst, watch } from './to-guest.js';
import { setDeadline } from './recovery.js';

/** Takes the guest's MSS, window scale and SACK-permitted from its SYN (or SYN-ACK). */
export function takeSynOptions(s: TcpCore, c: Conn, seg: TcpRepr): void {
  const o = seg.options;
  const ipHdr = c.family === 4 ? 20 : 40;
  c.mss = Math.max(64, Math.min(o.mss ?? DEFAULT_MSS, s.deps.cfg.mtu - ipHdr - 20));
  if (o.windowScale !== undefined) {
    c.wsIn = o.windowScale;
    c.wsOut = WS_TO_GUEST;
  } else {
    c.wsIn = 0;
    c.wsOut = 0;
  }
  c.sackOk = o.sackPermitted === true;
}

/** A guest SYN for a new connection: connect on the host, answer when that finishes. */
export function open(
  s: TcpCore,
  family: 4 | 6,
  src: Uint8Array,
  dst: Uint8Array,
  seg: TcpRepr,
): void {
  const dstText = addrText(family, dst);
  const target = guestToHost(s.deps.cfg, s.deps.hostResolvers, family, dstText, seg.dstPort);
  const rstSyn = () => {
    s.counters.refused++;
    segmentRst(
      s,
      replyTemplate(s, family, src, dst, seg),
      0,
      seqAdd(seg.seq, 1),
      TcpFlag.RST | TcpFlag.ACK,
    );
  };
  if (!target) return rstSyn();
  let sock: TcpSock;
  try {
    sock = s.host.socket(family);
  } catch (e) {
    s.deps.log?.(`tcp: no socket for a guest connection: ${(e as Error).message}`);
    return rstSyn();
  }
  const c = newConn(s, family, src.slice(), dst.slice(), seg.srcPort, seg.dstPort, sock, false);
  takeSynOptions(s, c, seg);
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
  if (!register(s, c, sides, false)) {
    s.host.close(sock, false);
    c.sock = undefined;
    return rstSyn();
  }
  const rc = s.host.connect(sock, family, target.addr, target.port);
  if (rc !== 0 && rc !== Errno.EINPROGRESS) {
    // Refused at once (no route, no address): the guest learns it the same way.
    s.counters.refused++;
    segmentRst(s, c.tpl, 0, c.rcvNxt, TcpFlag.RST | TcpFlag.ACK);
    finish(s, c, 'refused');
    return;
  }
  watch(s, sock, c.flow!.id, WATCH_CONN);
  if (rc === 0) connected(s, c);
}

/** The host connect finished: the guest gets its SYN-ACK. */
export function connected(s: TcpCore, c: Conn): void {
  c.state = 'syn-rcvd';
  s.counters.outbound++;
  sendSynAck(s, c);
}

export function sendSynAck(s: TcpCore, c: Conn): void {
  emit(
    s,
    c,
    build(
      s,
      c.tpl,
      { seq: c.iss, ack: c.rcvNxt, flags: TcpFlag.SYN | TcpFlag.ACK, window: synWindow() },
      synOptions(s, c, c.wsOut !== 0),
    ),
  );
  c.rcvEdge = seqAdd(c.rcvNxt, synWindow());
  setDeadline(s, c, s.deps.now() + c.rto);
}

function synWindow(): number {
  return Math.min(0xffff, RECV_BUFFER);
}

function synOptions(s: TcpCore, c: Conn, scale: boolean): SynOptions {
  const ipHdr = c.family === 4 ? 20 : 40;
  return {
    mss: Math.min(0xffff, s.deps.cfg.mtu - ipHdr - 20),
    sackPermitted: c.inbound || c.sackOk,
    ...(scale ? { windowScale: WS_TO_GUEST } : {}),
  };
}

/** Opens a listening socket, throwing a BinderyError that reads like Node's. */
function listenOn(s: TcpCore, host: string, p: number, family?: 4 | 6): TcpSock {
  try {
    if (family !== undefined) {
      if (!s.host.listenFamily) throw new Error('the host has no all-ports listeners');
      return s.host.listenFamily(family, p, 1024);
    }
    return s.host.listen(host, p, 1024)[0];
  } catch (e) {
    const errno = (e as { errno?: string }).errno ?? 'EINVAL';
    const where = host.includes(':') ? `[${host}]:${p}` : `${host}:${p}`;
    throw new BinderyError(
      ErrorCode.Syscall,
      `listen ${errno}: ${(e as Error).message.replace(/^.*\((.*)\)$/, '$1').toLowerCase()} ${where}`,
      { cause: e },
    );
  }
}

function addListener(s: TcpCore, l: Listener): number {
  const i = s.listeners.length;
  s.listeners.push(l);
  watch(s, l.sock, LISTENER_ID_BASE + i, TcpWatch.In);
  return i;
}

/**
 * Inbound forwarding: makes the listening sockets match `plan` — closes per-port listeners it
 * no longer has (their connections stay), opens the new ones, and with `allPortsPort` opens the
 * all-ports listeners (one per family) once. Connections on those are looked up in `plan` by
 * the destination they asked for.
 *
 * @param plan - from planForwards
 * @param allPortsPort - the port of the pod's REDIRECT rule, when it is installed
 * @throws BinderyError (Syscall) from the first socket that cannot listen, e.g. "listen
 *   EADDRINUSE: address already in use 127.0.0.1:8080" (sockets opened before it stay)
 */
export function applyForwards(s: TcpCore, plan: ForwardPlan, allPortsPort?: number): void {
  s.plan = plan;
  if (allPortsPort !== undefined && !s.listeners.some((l) => l?.family !== undefined)) {
    addListener(s, { sock: listenOn(s, '0.0.0.0', allPortsPort, 4), family: 4 });
    try {
      addListener(s, { sock: listenOn(s, '::', allPortsPort, 6), family: 6 });
    } catch (e) {
      // A pod without IPv6 has no IPv6 socket to open: IPv4 still works.
      if (!/EAFNOSUPPORT|EADDRNOTAVAIL/.test((e as Error).message)) throw e;
    }
  }
  for (const [key, i] of [...s.byKey]) {
    const l = s.listeners[i];
    const f = plan.perPort.get(key);
    if (l && f) {
      l.forward = f;
      continue;
    }
    if (l) s.host.close(l.sock, false);
    s.listeners[i] = undefined;
    s.byKey.delete(key);
  }
  for (const [key, f] of plan.perPort) {
    if (s.byKey.has(key)) continue;
    const sock = listenOn(s, f.addr ?? '::', f.port);
    s.byKey.set(key, addListener(s, { sock, forward: f }));
  }
}

/**
 * Inbound forwarding with one port map: listens on every host port `p` with portMap[p] ≠ 0 and
 * connects each accepted connection to that guest port.
 *
 * @param portMap - from resolvePortMap (65536 entries)
 * @param bindAddr - host address to bind (default '::', IPv4 and IPv6)
 * @throws the first error (a BinderyError whose message reads like Node's: "listen
 *   EADDRINUSE: address already in use 127.0.0.1:8080")
 */
export function listen(s: TcpCore, portMap: Uint16Array, bindAddr?: string): void {
  const host = bindAddr ?? '::';
  for (let p = 1; p < portMap.length && p < 65536; p++) {
    const guestPort = portMap[p] ?? 0;
    if (guestPort === 0) continue;
    const f: Forward = { addr: bindAddr, port: p, guestPort };
    s.byKey.set(forwardKey(f), addListener(s, { sock: listenOn(s, host, p), forward: f }));
  }
}

/** Takes up to ACCEPT_BATCH waiting connections from a listening socket. */
export function acceptAll(s: TcpCore, l: Listener): void {
  for (let i = 0; i < ACCEPT_BATCH && !s.closed; i++) {
    const a = s.host.accept(l.sock);
    if (typeof a === 'number') {
      if (a !== Errno.EAGAIN) s.deps.log?.(`tcp: accept failed: ${errnoName(a)}`);
      return;
    }
    accept(s, a, l);
  }
}

function accept(s: TcpCore, a: Accepted, l: Listener): void {
  const reject = () => s.host.close(a.sock, true);
  let fwd = l.forward;
  let ourAddr = a.localAddr;
  let ourPort = a.localPort;
  if (l.family !== undefined) {
    // All-ports: the port the client asked for, from conntrack (the socket's own is LISTEN).
    const o = s.host.originalDst?.(a.sock, l.family);
    if (o === undefined || typeof o === 'number') return reject();
    ourAddr = o.addr;
    ourPort = o.port;
    fwd = s.plan?.lookup(o.addr, o.port);
  }
  if (fwd === undefined) {
    s.counters.refused++;
    return reject();
  }
  const guestPort = fwd.guestPort;
  const peer = a.peerAddr;
  const family: 4 | 6 = peer.includes(':') ? 6 : 4;
  const fc = family === 4 ? s.deps.cfg.v4 : s.deps.cfg.v6;
  const target = fwd.toAddr ?? s.deps.guestAddr?.(family) ?? fc?.guestAddr;
  const guest = fc && target !== undefined ? addrBytes(family, target) : undefined;
  const remoteText = hostToGuestSource(s.deps.cfg, family, peer);
  const remote = addrBytes(family, remoteText);
  const remotePort = a.peerPort;
  if (s.closed || !guest || !remote || remotePort === 0) return reject();
  if (s.table.lookupBytes('tcp', 'guest', guest, guestPort, remote, remotePort)) return reject();
  const c = newConn(s, family, guest, remote, guestPort, remotePort, a.sock, true);
  c.mss = Math.min(s.deps.cfg.mtu - (family === 4 ? 40 : 60), 0xffff);
  const guestText = addrText(family, guest);
  const sides: [FlowSide, FlowSide] = [
    {
      endpointAddr: peer,
      endpointPort: remotePort,
      ourAddr,
      ourPort,
    },
    {
      endpointAddr: guestText,
      endpointPort: guestPort,
      ourAddr: remoteText,
      ourPort: remotePort,
    },
  ];
  if (!register(s, c, sides, true)) return reject();
  watch(s, a.sock, c.flow!.id, WATCH_CONN);
  sendSyn(s, c);
}

export function sendSyn(s: TcpCore, c: Conn): void {
  emit(
    s,
    c,
    build(
      s,
      c.tpl,
      { seq: c.iss, ack: 0, flags: TcpFlag.SYN, window: synWindow() },
      synOptions(s, c, true),
    ),
  );
  setDeadline(s, c, s.deps.now() + c.rto);
}

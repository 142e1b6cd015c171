// UDP translation between the guest's datagrams and host UDP sockets (usernet/host), one socket per flow.
//
// Theory of operation (after passt's udp.c / udp_flow.c, facts-passt §1.4):
// - Flows: one per (guest addr, guest port, remote addr, remote port), kept in the shared
//   FlowTable as type 'udp'. Side 0 is the initiator. Outbound (guest-started) flows own a
//   host socket (deps.host.udp) connected to the host peer (after nat.ts guestToHost); datagrams read
//   from it go back to the guest with source = the address/port the guest used (reverse NAT).
//   Inbound flows start on a listening socket bound per the -u port map; the guest's replies are
//   sent back from that listening socket, so the host client sees the port it talked to.
// - Timers: a flow is refreshed by every datagram (time from deps.now()); it expires after 30 s
//   idle while one-way, 120 s once datagrams went both ways (conntrack's udp_timeout /
//   udp_timeout_stream). expire(now) removes this translator's expired flows and closes sockets.
// - Limits: the table's size bounds flows (full → counted drop); at most 64 datagrams wait per
//   flow while its socket connects. Datagrams larger than the MTU still go out as one frame.
// - Errors: a port unreachable reported on a flow socket (ECONNREFUSED) becomes an ICMP/ICMPv6
//   port unreachable to the guest, quoting the headers of the guest's last datagram.
// - Per-datagram cost: guest datagrams find their flow by the frame's address bytes
//   (FlowTable.lookupBytes: nothing formatted); datagrams to the guest are laid out from a
//   per-flow header template (udp-frame.ts), with partial checksums on an offloading link, in
//   reused frame memory on a link done with frames when send returns (FrameArena), and every
//   datagram read in one wake-up goes to the guest in one toGuest call (a microtask queued by
//   the first). A host whose sockets send before the turn's microtasks end (batched sendmmsg)
//   gets transient guest payloads uncopied.
// - Failure: nothing from the guest throws; every drop is counted by reason.
import type { Flow, FlowSide } from './table.js';
import type { FlowDeps } from './deps.js';
import type { AllPortsSocket, UdpFrom, UdpSocket } from '../host/udp.js';
import type { Forward, ForwardPlan } from '../fwd/forwards.js';
import { portOfUdpTarget } from '../fwd/redirect.js';
import { expireOwned } from './table.js';
import { guestToHost, hostToGuestSource, canonicalAddr } from './nat.js';
import { UDP_HEADER_LEN } from '../../wire/udp.js';
import { IpProtocol, emitIpv4, IPV4_HEADER_LEN } from '../../wire/ipv4.js';
import { emitIpv6, IPV6_HEADER_LEN } from '../../wire/ipv6.js';
import { emitIcmpv4, icmpv4BufferLen, Icmpv4Unreach, type Icmpv4Repr } from '../../wire/icmpv4.js';
import {
  emitIcmpv6,
  icmpv6BufferLen,
  Icmpv6DestUnreachableCode,
  type Icmpv6Repr,
} from '../../wire/icmpv6.js';
import { buildIpv4Frame, buildIpv6Frame } from '../../wire/build.js';
import { FrameArena } from './tcp/frame.js';
import { udpFrameLen, udpTemplate, writeUdpFrame, type UdpTemplate } from './udp-frame.js';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6, putU16 } from '../../wire/common.js';

/**
 * Settled once: `.then` on it queues a plain microtask (queueMicrotask makes an AsyncResource
 * and a bound function per call: per reply on the UDP round-trip path).
 */
const RESOLVED = Promise.resolve();
/** One-way UDP flow idle timeout (nf_conntrack_udp_timeout). */
export const UDP_TIMEOUT_MS = 30_000;
/** Two-way UDP flow idle timeout (nf_conntrack_udp_timeout_stream). */
export const UDP_TIMEOUT_STREAM_MS = 120_000;
/** Datagrams queued per flow while its socket connects. */
export const UDP_PENDING_MAX = 64;

/** UDP translator counters. */
export interface UdpCounters {
  /** Datagrams from the guest forwarded to a host socket. */
  fromGuest: number;
  /** Datagrams from host sockets delivered to the guest. */
  toGuest: number;
  flowsOpened: number;
  flowsExpired: number;
  /** Destination not forwardable (multicast, broadcast, loopback, ...). */
  dropNotForwardable: number;
  /** The flow table was full. */
  dropTableFull: number;
  /** The guest's MAC is not known yet, so nothing can be sent to it. */
  dropNoGuestMac: number;
  /** Too many datagrams waiting for the socket to connect. */
  dropPending: number;
  /** Send to a host socket failed, or the datagram cannot fit an IP packet. */
  dropSend: number;
  /** Malformed arguments from the caller (bad address length, port 0). */
  dropMalformed: number;
  /** Socket errors reported asynchronously (e.g. ECONNREFUSED). */
  socketErrors: number;
  /** ICMP/ICMPv6 port unreachable messages sent to the guest (from ECONNREFUSED). */
  unreachableToGuest: number;
  /** Inbound datagrams on listening sockets. */
  inbound: number;
}

interface UdpState {
  readonly family: 4 | 6;
  /** Socket carrying the host side; for inbound flows the shared listening socket. */
  readonly sock: UdpSocket;
  /** Whether this flow owns (and closes) `sock`. */
  readonly owned: boolean;
  connected: boolean;
  pending: Uint8Array[];
  /** Guest-side addresses as bytes, ready for frames. */
  readonly guestAddr: Uint8Array;
  readonly guestPort: number;
  /** The address/port the guest sees for the remote end. */
  readonly remoteAddr: Uint8Array;
  readonly remotePort: number;
  /** Host peer (for inbound flows, where sends go through the listening socket). */
  readonly hostAddr: string;
  readonly hostPort: number;
  /** Datagrams seen from each side, for the one-way / two-way timeout. */
  fromGuest: number;
  fromHost: number;
  /** Payload length of the guest's last datagram (for the quote in ICMP errors). */
  lastLen: number;
  /** Header template of datagrams to the guest, made with the first one. */
  template: UdpTemplate | undefined;
}

const addrText = (family: 4 | 6, b: Uint8Array) => (family === 4 ? formatIpv4(b) : formatIpv6(b));
const addrBytes = (family: 4 | 6, s: string) => (family === 4 ? parseIpv4(s) : parseIpv6(s));

/** Largest UDP payload an IP packet can carry: 65535 total (IPv4) or payload length (IPv6). */
const maxPayload = (family: 4 | 6) => (family === 4 ? 65535 - 20 : 65535) - UDP_HEADER_LEN;

/** Translates guest UDP datagrams to host sockets and back. */
export class UdpTranslator {
  /** Counters by outcome. */
  readonly counters: UdpCounters = {
    fromGuest: 0,
    toGuest: 0,
    flowsOpened: 0,
    flowsExpired: 0,
    dropNotForwardable: 0,
    dropTableFull: 0,
    dropNoGuestMac: 0,
    dropPending: 0,
    dropSend: 0,
    dropMalformed: 0,
    socketErrors: 0,
    unreachableToGuest: 0,
    inbound: 0,
  };
  private readonly flows = new Set<Flow<UdpState>>();
  private readonly listeners: UdpSocket[] = [];
  /** Per-port sockets of applyForwards, by forwardKey. */
  private readonly perPort = new Map<string, { sock: UdpSocket; forward: Forward }>();
  /** The all-ports sockets (one per family) and the plan they look ports up in. */
  private readonly allPorts: AllPortsSocket[] = [];
  private plan: ForwardPlan | undefined;
  private closed = false;
  /** Frames to the guest waiting for this turn's toGuest (see flushGuest). */
  private readonly outFrames: Uint8Array[] = [];
  private outQueued = false;
  private readonly flushGuestNow = (): void => this.flushGuest();
  /** Reused frame memory, when the link is done with frames on return. */
  private readonly arena: FrameArena | undefined;
  private readonly partial: boolean;

  constructor(private readonly deps: FlowDeps) {
    this.partial = deps.checksumOffload === true;
    this.arena = deps.framesReusable === true ? new FrameArena(4 << 20) : undefined;
    deps.table.setDescriber<UdpState>('udp', (f) => ({
      state: f.state.fromGuest > 0 && f.state.fromHost > 0 ? 'two-way' : 'one-way',
    }));
  }

  /**
   * A UDP datagram from the guest (already parsed by the caller): finds or opens its flow and
   * sends the payload to the host peer.
   *
   * @param family - 4 or 6
   * @param src - guest source address (4 or 16 bytes)
   * @param dst - destination address as the guest used it
   * @param srcPort - guest source port
   * @param dstPort - destination port
   * @param payload - the datagram's payload (copied if it has to wait)
   */
  fromGuest(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
  ): void {
    const alen = family === 4 ? 4 : 16;
    if (this.closed || src.length !== alen || dst.length !== alen || dstPort === 0) {
      this.counters.dropMalformed++;
      return;
    }
    const now = this.deps.now();
    let flow = this.deps.table.lookupBytes<UdpState>('udp', 'guest', src, srcPort, dst, dstPort);
    if (!flow) {
      const guestSide: FlowSide = {
        endpointAddr: addrText(family, src),
        endpointPort: srcPort,
        ourAddr: addrText(family, dst),
        ourPort: dstPort,
      };
      flow = this.open(family, guestSide, src, dst, now);
      if (!flow) return;
    }
    const st = flow.state;
    flow.lastActivityMs = now;
    flow.packetsIn++;
    flow.bytesIn += payload.length;
    st.fromGuest++;
    st.lastLen = payload.length;
    this.updateTimeout(flow);
    if (!st.owned) {
      this.sendHost(st, payload, st.hostAddr, st.hostPort);
      return;
    }
    if (!st.connected) {
      if (st.pending.length >= UDP_PENDING_MAX) {
        this.counters.dropPending++;
        return;
      }
      st.pending.push(payload.slice());
      return;
    }
    this.sendHost(st, payload);
  }

  /**
   * Inbound forwarding: binds one socket per forwarded host port (entry `p` of `portMap` is the
   * guest port for host port `p`, 0 = not forwarded) and delivers datagrams to the guest.
   *
   * @param portMap - from resolvePortMap (65536 entries)
   * @param bindAddr - host address to bind (default: all IPv4 and IPv6 addresses, '::')
   * @returns when every socket is bound; rejects with the first bind error (sockets bound so
   *   far stay open until close())
   */
  async listen(portMap: Uint16Array, bindAddr?: string): Promise<void> {
    const addr = bindAddr ?? '::';
    const family: 4 | 6 = canonicalAddr(4, addr) !== undefined ? 4 : 6;
    const binds: Promise<void>[] = [];
    for (let p = 1; p < portMap.length && p < 65536; p++) {
      const guestPort = portMap[p] ?? 0;
      if (guestPort === 0) continue;
      const f: Forward = { addr: bindAddr, port: p, guestPort };
      const { sock, bound } = this.deps.host.udp.bind(family, addr, p, {
        message: (msg, from) => this.inbound(sock, addr, p, f, msg, from),
        error: () => this.counters.socketErrors++,
      });
      this.listeners.push(sock);
      binds.push(bound);
    }
    await Promise.all(binds);
  }

  /**
   * Makes the inbound sockets match `plan` (start, and runtime forwards): closes per-port
   * sockets the plan dropped (flows already open on them get no more replies through them),
   * binds the new ones, and with `allPortsPort` opens the all-ports sockets (one per family)
   * once; datagrams on those are looked up in `plan` by the port their DNATed address encodes.
   *
   * @returns when the new per-port sockets are bound; rejects with the first bind error
   * @throws Error when an all-ports socket cannot be opened
   */
  async applyForwards(plan: ForwardPlan, allPortsPort?: number): Promise<void> {
    this.plan = plan;
    const udp = this.deps.host.udp;
    if (allPortsPort !== undefined && this.allPorts.length === 0) {
      if (!udp.bindAll) throw new Error('the host has no all-ports UDP sockets');
      for (const family of [4, 6] as const) {
        try {
          const all: AllPortsSocket = udp.bindAll(family, allPortsPort, {
            message: (msg, from, to) => this.allPortsInbound(family, all, msg, from, to),
            error: () => this.counters.socketErrors++,
          });
          this.allPorts.push(all);
        } catch (e) {
          if (family === 4 || !/EAFNOSUPPORT|EADDRNOTAVAIL/.test((e as Error).message)) throw e;
        }
      }
    }
    for (const [key, entry] of [...this.perPort]) {
      const f = plan.perPort.get(key);
      if (f && f.guestPort === entry.forward.guestPort && f.toAddr === entry.forward.toAddr)
        continue;
      entry.sock.close();
      this.perPort.delete(key);
    }
    const binds: Promise<void>[] = [];
    for (const [key, f] of plan.perPort) {
      if (this.perPort.has(key)) continue;
      const addr = f.addr ?? '::';
      const family: 4 | 6 = canonicalAddr(4, addr) !== undefined ? 4 : 6;
      const { sock, bound } = this.deps.host.udp.bind(family, addr, f.port, {
        message: (msg, from) => this.inbound(sock, addr, f.port, f, msg, from),
        error: () => this.counters.socketErrors++,
      });
      this.perPort.set(key, { sock, forward: f });
      binds.push(bound);
    }
    await Promise.all(binds);
  }

  /** Open inbound sockets (all-ports and per-port). */
  get sockets(): number {
    return this.listeners.length + this.perPort.size + this.allPorts.length;
  }

  private allPortsInbound(
    family: 4 | 6,
    all: AllPortsSocket,
    msg: Uint8Array,
    from: UdpFrom,
    to: string,
  ): void {
    const port = portOfUdpTarget(family, to);
    const f =
      port !== undefined ? this.plan?.lookup(family === 4 ? '0.0.0.0' : '::', port) : undefined;
    if (port === undefined || f === undefined) {
      this.counters.dropNotForwardable++;
      return;
    }
    // Replies leave from `to`, so conntrack restores the address and port the client used.
    const reply: UdpSocket = {
      send: (data, addr, p) => all.sendFrom(data, addr ?? from.address, p ?? from.port, to),
      close: () => {},
    };
    this.inbound(reply, to, port, f, msg, from);
  }

  /**
   * Removes this translator's flows idle past their timeout and closes their sockets.
   *
   * @param nowMs - current time (the daemon's clock)
   */
  expire(nowMs: number): void {
    this.counters.flowsExpired += expireOwned(this.deps.table, this.flows, nowMs, (f) =>
      this.drop(f),
    );
  }

  /** Closes every flow and listening socket (guest link gone, or shutdown). */
  close(): void {
    this.closed = true;
    for (const f of [...this.flows]) {
      this.deps.table.remove(f, 'closed', 'shutdown');
      this.drop(f);
    }
    for (const s of this.listeners.splice(0)) s.close();
    for (const e of this.perPort.values()) e.sock.close();
    this.perPort.clear();
    for (const s of this.allPorts.splice(0)) s.close();
  }

  /** Number of live UDP flows of this translator. */
  get size(): number {
    return this.flows.size;
  }

  private open(
    family: 4 | 6,
    guestSide: FlowSide,
    src: Uint8Array,
    dst: Uint8Array,
    now: number,
  ): Flow<UdpState> | undefined {
    const host = guestToHost(
      this.deps.cfg,
      this.deps.hostResolvers,
      family,
      guestSide.ourAddr,
      guestSide.ourPort,
    );
    if (!host) {
      this.counters.dropNotForwardable++;
      return undefined;
    }
    if (this.deps.table.size >= this.deps.table.maxFlows) {
      this.deps.table.counters.full++;
      this.counters.dropTableFull++;
      return undefined;
    }
    const hostSide: FlowSide = {
      endpointAddr: host.addr,
      endpointPort: host.port,
      ourAddr: guestSide.endpointAddr,
      ourPort: guestSide.endpointPort,
    };
    // The socket reports only after this call returns, when the flow exists.
    const me: { flow?: Flow<UdpState> } = {};
    const sock = this.deps.host.udp.connect(
      family,
      host.addr,
      host.port,
      {
        message: (msg) => {
          if (me.flow) this.fromHost(me.flow, msg);
        },
        error: (e) => {
          this.counters.socketErrors++;
          if (e.code === 'ECONNREFUSED' && me.flow) this.unreachable(me.flow);
        },
        dropped: (n) => {
          this.counters.fromGuest -= n;
          this.counters.dropSend += n;
        },
      },
      () => {
        if (!me.flow || !this.flows.has(me.flow)) return;
        state.connected = true;
        for (const d of state.pending.splice(0)) this.sendHost(state, d);
      },
    );
    const state: UdpState = {
      family,
      sock,
      owned: true,
      connected: false,
      pending: [],
      guestAddr: src.slice(),
      guestPort: guestSide.endpointPort,
      remoteAddr: dst.slice(),
      remotePort: guestSide.ourPort,
      hostAddr: host.addr,
      hostPort: host.port,
      fromGuest: 0,
      fromHost: 0,
      lastLen: 0,
      template: undefined,
    };
    const flow = this.deps.table.insert<UdpState>(
      'udp',
      ['guest', 'host'],
      [guestSide, hostSide],
      state,
      now,
      UDP_TIMEOUT_MS,
    );
    if (!flow) {
      sock.close();
      this.counters.dropTableFull++;
      return undefined;
    }
    me.flow = flow;
    this.flows.add(flow);
    this.counters.flowsOpened++;
    return flow;
  }

  private inbound(
    sock: UdpSocket,
    bindAddr: string,
    hostPort: number,
    fwd: Forward,
    msg: Uint8Array,
    rinfo: UdpFrom,
  ): void {
    const guestPort = fwd.guestPort;
    if (this.closed) return;
    this.counters.inbound++;
    const family: 4 | 6 = rinfo.family === 4 || rinfo.address.startsWith('::ffff:') ? 4 : 6;
    const fc = family === 4 ? this.deps.cfg.v4 : this.deps.cfg.v6;
    if (!fc) {
      this.counters.dropNotForwardable++;
      return;
    }
    const peer = rinfo.address.startsWith('::ffff:') ? rinfo.address.slice(7) : rinfo.address;
    const hostSide: FlowSide = {
      endpointAddr: peer,
      endpointPort: rinfo.port,
      ourAddr: bindAddr,
      ourPort: hostPort,
    };
    const now = this.deps.now();
    let flow = this.deps.table.lookup<UdpState>('udp', 'host', hostSide);
    if (!flow) {
      const remote = hostToGuestSource(this.deps.cfg, family, peer);
      const remoteBytes = addrBytes(family, remote);
      const target = fwd.toAddr ?? this.deps.guestAddr?.(family) ?? fc.guestAddr;
      const guestBytes = addrBytes(family, target);
      if (!remoteBytes || !guestBytes) {
        this.counters.dropNotForwardable++;
        return;
      }
      const guestSide: FlowSide = {
        endpointAddr: addrText(family, guestBytes),
        endpointPort: guestPort,
        ourAddr: addrText(family, remoteBytes),
        ourPort: rinfo.port,
      };
      const state: UdpState = {
        family,
        sock,
        owned: false,
        connected: true,
        pending: [],
        guestAddr: guestBytes,
        guestPort,
        remoteAddr: remoteBytes,
        remotePort: rinfo.port,
        hostAddr: rinfo.address,
        hostPort: rinfo.port,
        fromGuest: 0,
        fromHost: 0,
        lastLen: 0,
        template: undefined,
      };
      flow = this.deps.table.insert<UdpState>(
        'udp',
        ['host', 'guest'],
        [hostSide, guestSide],
        state,
        now,
        UDP_TIMEOUT_MS,
      );
      if (!flow) {
        this.counters.dropTableFull++;
        return;
      }
      this.flows.add(flow);
      this.counters.flowsOpened++;
    }
    this.fromHost(flow, msg);
  }

  private fromHost(flow: Flow<UdpState>, msg: Uint8Array): void {
    if (!this.flows.has(flow)) return;
    const st = flow.state;
    flow.lastActivityMs = this.deps.now();
    flow.packetsOut++;
    flow.bytesOut += msg.length;
    st.fromHost++;
    this.updateTimeout(flow);
    const guestMac = this.deps.guestMac();
    if (!guestMac) {
      this.counters.dropNoGuestMac++;
      return;
    }
    if (msg.length > maxPayload(st.family)) {
      this.counters.dropSend++;
      return;
    }
    let t = st.template;
    if (t === undefined || t.mac !== guestMac) {
      t = udpTemplate(
        st.family,
        this.deps.ourMac,
        guestMac,
        st.remoteAddr,
        st.guestAddr,
        st.remotePort,
        st.guestPort,
      );
      st.template = t;
    }
    const len = udpFrameLen(t, msg.length);
    const frame = this.arena !== undefined ? this.arena.alloc(len) : new Uint8Array(len);
    this.outFrames.push(writeUdpFrame(t, frame, msg, this.partial));
    this.counters.toGuest++;
    if (!this.outQueued) {
      this.outQueued = true;
      void RESOLVED.then(this.flushGuestNow);
    }
  }

  /** Hands this turn's datagrams to the guest in one batch, then frees their memory. */
  private flushGuest(): void {
    this.outQueued = false;
    const frames = this.outFrames;
    if (frames.length === 0) return;
    if (this.arena !== undefined) {
      this.deps.toGuest(frames, this.partial);
      frames.length = 0;
      this.arena.reset();
    } else {
      this.deps.toGuest(frames.splice(0), this.partial);
    }
  }

  /** Tells the guest its last datagram on `flow` met a closed port (RFC 792 / RFC 4443 §3.1). */
  private unreachable(flow: Flow<UdpState>): void {
    if (!this.flows.has(flow)) return;
    const st = flow.state;
    const guestMac = this.deps.guestMac();
    if (!guestMac) {
      this.counters.dropNoGuestMac++;
      return;
    }
    // The quote: the guest's IP and UDP headers (payload not kept; the lengths say how long it was).
    const ipLen = st.family === 4 ? IPV4_HEADER_LEN : IPV6_HEADER_LEN;
    const quote = new Uint8Array(ipLen + UDP_HEADER_LEN);
    const udpLen = Math.min(0xffff, UDP_HEADER_LEN + st.lastLen);
    const ip = { src: st.guestAddr, dst: st.remoteAddr };
    if (st.family === 4) {
      emitIpv4(
        {
          ...ip,
          protocol: IpProtocol.Udp,
          payloadLen: Math.min(udpLen, 0xffff - IPV4_HEADER_LEN),
          ttl: 64,
          tos: 0,
          ident: 0,
          dontFragment: true,
          options: new Uint8Array(0),
        },
        quote,
      );
    } else {
      emitIpv6(
        {
          ...ip,
          nextHeader: IpProtocol.Udp,
          payloadLen: udpLen,
          hopLimit: 64,
          trafficClass: 0,
          flowLabel: 0,
        },
        quote,
      );
    }
    const u = quote.subarray(ipLen);
    putU16(u, 0, st.guestPort);
    putU16(u, 2, st.remotePort);
    putU16(u, 4, udpLen);
    const src = st.remoteAddr;
    let frame: Uint8Array;
    if (st.family === 4) {
      const repr: Icmpv4Repr = {
        type: 3,
        code: Icmpv4Unreach.Port,
        nextHopMtu: 0,
        invoking: quote,
      };
      frame = buildIpv4Frame(
        this.deps.ourMac,
        guestMac,
        { src, dst: st.guestAddr, protocol: IpProtocol.Icmp },
        icmpv4BufferLen(repr),
        (l4) => emitIcmpv4(repr, l4),
      );
    } else {
      const repr: Icmpv6Repr = {
        type: 1,
        code: Icmpv6DestUnreachableCode.PortUnreachable,
        invoking: quote,
      };
      frame = buildIpv6Frame(
        this.deps.ourMac,
        guestMac,
        { src, dst: st.guestAddr, nextHeader: IpProtocol.Icmpv6 },
        icmpv6BufferLen(repr),
        (l4) => emitIcmpv6(repr, l4, src, st.guestAddr),
      );
    }
    this.counters.unreachableToGuest++;
    this.deps.toGuest([frame]);
  }

  private sendHost(st: UdpState, payload: Uint8Array, addr?: string, port?: number): void {
    // The socket may keep the buffer until the kernel took it, which may be after this batch
    // (unless it sends before the batch's microtasks have run).
    if (this.deps.framesTransient === true && st.sock.sendsWithinTurn !== true)
      payload = payload.slice();
    try {
      st.sock.send(payload, addr, port);
      this.counters.fromGuest++;
    } catch {
      this.counters.dropSend++;
    }
  }

  /** One-way flows keep the short timeout; a flow with traffic both ways gets the long one. */
  private updateTimeout(flow: Flow<UdpState>): void {
    if (flow.state.fromGuest > 0 && flow.state.fromHost > 0) flow.timeoutMs = UDP_TIMEOUT_STREAM_MS;
  }

  private drop(f: Flow<UdpState>): void {
    this.flows.delete(f);
    f.state.pending = [];
    if (f.state.owned) f.state.sock.close();
  }
}

// The translator daemon's core: one guest link in, every guest frame dispatched to the service or translator that owns it.
//
// Theory of operation
// ===================
//
// Links. The daemon speaks to the guest through a GuestLink: the QEMU stream socket
// (link/stream.ts, passt's default) or a tap device in a network namespace (link/tap.ts
// adapts native/TapDevice). It never opens the link itself: the CLI edge does, and hands it in,
// so tests drive the daemon with a fake link.
//
// Guest MAC. Learnt from the source address of every unicast frame the guest sends (passt:
// tap.c); until the first one it is the broadcast address. `linkUp()` (called when a stream
// client connects, or at once for a tap) sends an ARP request for the guest's IPv4 address and
// an NDP neighbour solicitation for its IPv6 address, as passt's tap_start_connection() does,
// so the answer teaches us the MAC early.
//
// Dispatch. Each guest frame is parsed once (iface/packet.ts: Ethernet, ARP or IP, the L4
// header and its rules) into a packet object reused for the whole batch; iface/dispatch.ts's
// pure route() names where it goes (the dispatch order is documented there), and the daemon
// executes the route: counts it, runs the link service on the parsed packet, or calls the L4
// hook. Nothing here throws on guest bytes: a malformed frame is counted by reason.
//
// Timers. Two: the unsolicited Router Advertisement, re-armed after each RA with
// nextUnsolicitedRaMs(random()) (200–600 s, RFC 4861 §6.2.4; passt sends these so guests keep
// their default route), and flow expiry (the L4 hooks' `expire`, every 5 s, when they have
// one). Time, randomness and the timer functions come in through `Clock`.
//
// Observation. A FrameTap (setFrameTap: the pcap capture) sees every batch both ways before it
// is dispatched or sent; with none set the cost is one branch per batch. Frame and byte counters
// are plain numbers read by whoever reports them (the metrics endpoint reads them at scrape
// time). `onGuestError` hears of each frame dropped as guest misbehaviour (malformed, bad
// checksum, unsupported or unhandled protocol); only those frames pay for it.
//
// Shutdown. `close()` is idempotent: it stops the RA timer, closes the L4 hooks (their
// sockets) and then the link (for a stream link that also removes the socket file).
import { GuestAddrs } from './fwd/guest-addrs.js';
import { isMulticastMac } from '../wire/ethernet.js';
import { IpProtocol } from '../wire/ipv4.js';
import { solicitedNode, multicastMac6 } from '../wire/ipv6.js';
import type { TcpRepr } from '../wire/tcp.js';
import { emitIcmpv6, icmpv6BufferLen, type Icmpv6Repr } from '../wire/icmpv6.js';
import { ArpOp } from '../wire/arp.js';
import { buildArpFrame, buildIpv6Frame } from '../wire/build.js';
import { parseIpv4, parseIpv6, type Mac, type WireErrorKind } from '../wire/common.js';
import type { PasstConfig } from './conf.js';
import type { GuestLink } from './link/types.js';
import { FlowTable } from './flow/table.js';
import {
  respond,
  newCounters as newResponderCounters,
  type ResponderConfig,
  type ResponderCounters,
} from './iface/responder.js';
import {
  handleDhcp,
  newAddressServiceCounters,
  type AddressServiceCounters,
} from './iface/dhcp-server.js';
import { handleDhcpv6 } from './iface/dhcpv6-server.js';
import {
  handleRouterSolicit,
  buildRouterAdvert,
  nextUnsolicitedRaMs,
  routerLinkLocal,
} from './iface/ra.js';
import {
  newGuestPacket,
  parseGuestFrame,
  type GuestFrameParser,
  type GuestPacket,
} from './iface/packet.js';
import { route, type DispatchPolicy } from './iface/dispatch.js';

/** Time, randomness and timers, supplied by the edge (tests pass fakes). */
export interface Clock {
  /** Milliseconds, monotonic enough for flow expiry. */
  now(): number;
  /** A number in [0, 1). */
  random(): number;
  /** Runs `fn` once after `ms`; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, ms: number): unknown;
  /** Cancels a timer from `setTimer`. */
  clearTimer(handle: unknown): void;
}

/** What an L4 translator gets from the daemon (the constructor deps of flow/udp.ts, flow/icmp.ts). */
export interface L4Deps {
  readonly table: FlowTable;
  readonly cfg: PasstConfig;
  /** The host's own resolvers (for DNS forwarding from the mapped gateway). */
  readonly hostResolvers: readonly string[];
  readonly ourMac: Mac;
  /** The guest's MAC as last learnt (broadcast until the guest has sent a frame). */
  guestMac(): Mac;
  /** Where inbound flows of a family go: the address the guest is seen using (fwd/guest-addrs.ts). */
  guestAddr(family: 4 | 6): string | undefined;
  /** Sends frames to the guest (`partialChecksum`: see GuestLink.send). */
  toGuest(frames: readonly Uint8Array[], partialChecksum?: boolean): void;
  /** The link takes partial TCP/UDP checksums (GuestLink.checksumOffload). */
  readonly checksumOffload: boolean;
  /** The link segments TCP frames of up to this many bytes for the guest (GuestLink.tsoMax). */
  readonly tsoMax?: number;
  /** Frames passed to `toGuest` may be reused once it returns (GuestLink.consumesOnSend). */
  readonly framesReusable: boolean;
  /**
   * Guest frames (and the payloads cut from them) are valid only until the batch's microtasks
   * have run (GuestLink.framesTransient): whatever waits longer is copied.
   */
  readonly framesTransient: boolean;
  /** The clock's now(). */
  now(): number;
  /** The clock's timers. */
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/**
 * The extension point for L4 traffic the daemon does not answer itself. A missing hook means
 * the frames are counted `unhandled` and dropped.
 */
export interface L4Hooks {
  /** A UDP datagram from the guest (checksum verified). Addresses are 4 or 16 bytes. */
  udp?(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    srcPort: number,
    dstPort: number,
    payload: Uint8Array,
  ): void;
  /** An ICMP/ICMPv6 echo request from the guest to an address other than the gateway. */
  ping?(
    family: 4 | 6,
    src: Uint8Array,
    dst: Uint8Array,
    ident: number,
    seqNo: number,
    data: Uint8Array,
  ): void;
  /**
   * A TCP segment from the guest (checksum verified, options parsed); `payload` is a view into
   * the frame.
   */
  tcp?(family: 4 | 6, src: Uint8Array, dst: Uint8Array, seg: TcpRepr, payload: Uint8Array): void;
  /** The guest went away (its stream connection closed): connections to it are reset. */
  linkDown?(): void;
  /** Removes flows idle past their timeout; called every FLOW_EXPIRY_INTERVAL_MS. */
  expire?(nowMs: number): void;
  /** Releases the hooks' sockets; called by `PasstDaemon.close()`. */
  close?(): void | Promise<void>;
}

/**
 * Sees every guest frame both ways (the pcap capture). Frames are valid only during the call
 * (a link may reuse them): whatever keeps them copies them.
 */
export interface FrameTap {
  /** A batch from the guest, before dispatch. */
  fromGuest(frames: readonly Uint8Array[]): void;
  /** A batch to the guest, as handed to the link (`partialChecksum`: see GuestLink.send). */
  toGuest(frames: readonly Uint8Array[], partialChecksum: boolean): void;
}

/** Why a guest frame was dropped as misbehaviour (a WireErrorKind, or no handler for it). */
export type GuestErrorKind = WireErrorKind | 'unhandled';

/** Options of a PasstDaemon beyond the PasstConfig. */
export interface PasstDaemonOptions {
  readonly noDhcp?: boolean;
  readonly noDhcpv6?: boolean;
  readonly noRa?: boolean;
  readonly noNdp?: boolean;
  /** DHCP option 12. */
  readonly hostname?: string;
  /** The host's resolvers (from /etc/resolv.conf), for the L4 hooks. */
  readonly hostResolvers?: readonly string[];
  readonly clock: Clock;
  /** Builds the L4 hooks from the daemon's deps; omitted: all L4 traffic is `unhandled`. */
  readonly l4?: (deps: L4Deps) => L4Hooks;
  /** The frame parser (default parseGuestFrame); tests pass a wrapper to count parses. */
  readonly parser?: GuestFrameParser;
  /** Called for each guest frame dropped as misbehaviour (for rate-limited warnings). */
  readonly onGuestError?: (kind: GuestErrorKind, frame: Uint8Array) => void;
}

/** Daemon-level counters; the services' own counters are in `PasstDaemon.serviceCounters`. */
export interface PasstCounters {
  rxFrames: number;
  /** Bytes of the frames from the guest (Ethernet header included). */
  rxBytes: number;
  /** Frames handed to the link. */
  txFrames: number;
  /** Bytes of the frames handed to the link. */
  txBytes: number;
  /** Sends the link refused or queued (no guest, or back-pressure). */
  txBlocked: number;
  /** Frames dropped because they could not be parsed, by reason (services' drops included). */
  malformed: Record<WireErrorKind, number>;
  arp: number;
  ndp: number;
  echoGateway: number;
  dhcp: number;
  dhcpv6: number;
  routerSolicits: number;
  unsolicitedRas: number;
  /** UDP datagrams handed to the `udp` hook. */
  udp: number;
  /** Echo requests handed to the `ping` hook. */
  ping: number;
  /** TCP segments handed to the `tcp` hook. */
  tcp: number;
  /** L4 traffic nobody handles (no hook, TCP, fragments, other protocols). */
  unhandled: number;
  /** Frames deliberately not answered (other EtherTypes, NA, MLD, ARP replies, …). */
  ignored: number;
  /** Times the guest MAC was learnt or changed. */
  guestMacUpdates: number;
  /** Frames whose handling threw: a bug, never a normal drop (fuzzing asserts this stays 0). */
  exceptions: number;
}

/** How often the L4 hooks' `expire` runs. */
export const FLOW_EXPIRY_INTERVAL_MS = 5_000;

const BROADCAST: Mac = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC: Mac = new Uint8Array(6);

function eq(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The translator: dispatches guest frames to the address services and the L4 hooks, and
 * keeps the unsolicited RA timer (see the theory of operation at the top of this file).
 *
 * @example
 * const d = new PasstDaemon(cfg, link, { clock });
 * d.start();
 * link.on('connect', () => d.linkUp());
 */
export class PasstDaemon {
  /** Daemon-level counters. */
  readonly counters: PasstCounters = {
    rxFrames: 0,
    rxBytes: 0,
    txFrames: 0,
    txBytes: 0,
    txBlocked: 0,
    malformed: { truncated: 0, malformed: 0, 'bad-checksum': 0, unsupported: 0 },
    arp: 0,
    ndp: 0,
    echoGateway: 0,
    dhcp: 0,
    dhcpv6: 0,
    routerSolicits: 0,
    unsolicitedRas: 0,
    udp: 0,
    ping: 0,
    tcp: 0,
    unhandled: 0,
    ignored: 0,
    guestMacUpdates: 0,
    exceptions: 0,
  };
  /** Counters of each service, as the services keep them. */
  readonly serviceCounters: {
    readonly responder: ResponderCounters;
    readonly dhcp: AddressServiceCounters;
    readonly dhcpv6: AddressServiceCounters;
    readonly ra: AddressServiceCounters;
  } = {
    responder: newResponderCounters(),
    dhcp: newAddressServiceCounters(),
    dhcpv6: newAddressServiceCounters(),
    ra: newAddressServiceCounters(),
  };
  /** The flow table the L4 hooks share. */
  readonly table = new FlowTable();
  private readonly responderCfg: ResponderConfig;
  private readonly gateway4: Uint8Array | undefined;
  private readonly gateways6: Uint8Array[];
  private mac: Mac = BROADCAST;
  /** The packet onFrames refills (undefined while a batch is using it). */
  private spare: GuestPacket | undefined = undefined;
  private l4: L4Hooks = {};
  private raTimer: unknown;
  private expiryTimer: unknown;
  private started = false;
  private policy: DispatchPolicy;
  private readonly parse: GuestFrameParser;
  private closing: Promise<void> | undefined;
  private frameTap: FrameTap | undefined;

  /**
   * @param cfg - The resolved configuration (addresses, MTU, our MAC, DNS).
   * @param link - The guest link; the daemon owns it from now on and closes it in `close()`.
   * @param opts - Services to disable, clock, L4 hooks.
   */
  constructor(
    readonly cfg: PasstConfig,
    private readonly link: GuestLink,
    private readonly opts: PasstDaemonOptions,
  ) {
    this.gateway4 = cfg.v4 ? parseIpv4(cfg.v4.gateway) : undefined;
    this.guestAddrs = new GuestAddrs(cfg.v4?.guestAddr, cfg.v6?.guestAddr);
    const g6 = cfg.v6 ? parseIpv6(cfg.v6.gateway) : undefined;
    this.gateways6 = cfg.v6 ? [routerLinkLocal(cfg)] : [];
    if (g6 && !this.gateways6.some((g) => eq(g, g6))) this.gateways6.push(g6);
    const guest4 = cfg.v4 ? parseIpv4(cfg.v4.guestAddr) : undefined;
    this.responderCfg = {
      ourMac: cfg.ourMac,
      gateways6: this.gateways6,
      ...(this.gateway4 ? { gateway4: this.gateway4 } : {}),
      ...(guest4 ? { guest4 } : {}),
    };
    this.parse = opts.parser ?? parseGuestFrame;
    this.policy = this.dispatchPolicy();
  }

  /** The addresses the guest is seen using (the assigned ones until it sends). */
  readonly guestAddrs: GuestAddrs;

  /** The guest's MAC as last learnt (broadcast until the guest has sent a unicast-sourced frame). */
  get guestMac(): Mac {
    return this.mac;
  }

  /** Takes the guest's MAC from a hand-over (the source learnt it; this daemon saw no frame yet). */
  adoptGuestMac(mac: Mac): void {
    if (!isMulticastMac(mac)) this.mac = mac.slice();
  }

  /** The daemon clock's now() (the flow table's times are on it). */
  now(): number {
    return this.opts.clock.now();
  }

  /** Sets (or, with undefined, removes) the tap that sees every frame both ways. */
  setFrameTap(tap: FrameTap | undefined): void {
    this.frameTap = tap;
  }

  /** Starts reading frames from the link, builds the L4 hooks and arms the RA timer. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.opts.l4) {
      this.l4 = this.opts.l4({
        table: this.table,
        cfg: this.cfg,
        hostResolvers: this.opts.hostResolvers ?? [],
        ourMac: this.cfg.ourMac,
        guestMac: () => this.mac,
        guestAddr: (family) => this.guestAddrs.get(family),
        toGuest: (frames, partial) => this.send(frames, partial),
        checksumOffload: this.link.checksumOffload === true,
        ...(this.link.tsoMax !== undefined ? { tsoMax: this.link.tsoMax } : {}),
        framesReusable: this.link.consumesOnSend === true,
        framesTransient: this.link.framesTransient === true,
        now: () => this.opts.clock.now(),
        setTimer: (fn, ms) => this.opts.clock.setTimer(fn, ms),
        clearTimer: (h) => this.opts.clock.clearTimer(h),
      });
    }
    this.policy = this.dispatchPolicy();
    this.link.onFrames((frames, trusted) => this.onFrames(frames, trusted));
    this.armRa();
    this.armExpiry();
  }

  /**
   * The guest side came up (a stream client connected, or a tap opened): sends an ARP request
   * for the guest's IPv4 address and a neighbour solicitation for its IPv6 address, so its
   * answer teaches us its MAC (passt's tap_start_connection()).
   */
  linkUp(): void {
    const out: Uint8Array[] = [];
    const v4 = this.cfg.v4;
    const guest4 = v4 ? parseIpv4(v4.guestAddr) : undefined;
    if (guest4 && this.gateway4) {
      out.push(
        buildArpFrame(this.cfg.ourMac, BROADCAST, {
          operation: ArpOp.Request,
          senderMac: this.cfg.ourMac,
          senderIp: this.gateway4,
          targetMac: ZERO_MAC,
          targetIp: guest4,
        }),
      );
    }
    const guest6 = this.cfg.v6 ? parseIpv6(this.cfg.v6.guestAddr) : undefined;
    if (guest6 && !this.opts.noNdp) {
      const src = routerLinkLocal(this.cfg);
      const dst = solicitedNode(guest6);
      const ns: Icmpv6Repr = {
        type: 135,
        target: guest6,
        options: [{ type: 1, mac: this.cfg.ourMac }],
      };
      out.push(
        buildIpv6Frame(
          this.cfg.ourMac,
          multicastMac6(dst),
          { src, dst, nextHeader: IpProtocol.Icmpv6, hopLimit: 255 },
          icmpv6BufferLen(ns),
          (b) => emitIcmpv6(ns, b, src, dst),
        ),
      );
    }
    if (out.length > 0) this.send(out);
  }

  /**
   * Handles one batch of guest frames and sends the replies in one batch. Never throws on
   * guest bytes.
   *
   * @param frames - Ethernet frames from the guest.
   * @param trusted - Per frame, 1 when its TCP or UDP checksum is not to be verified (GuestLink).
   */
  onFrames(frames: readonly Uint8Array[], trusted?: Uint8Array): void {
    const out: Uint8Array[] = [];
    // One packet object for the batch, refilled per frame: the daemon's spare, or a new one
    // when a hook re-entered onFrames while the spare is in use.
    const packet = this.spare ?? newGuestPacket();
    this.spare = undefined;
    if (this.frameTap !== undefined) this.frameTap.fromGuest(frames);
    const c = this.counters;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      c.rxFrames++;
      c.rxBytes += f.length;
      // The guest MAC is learnt from the frame's source before dispatch (the reply to this very
      // frame may need it) and taken back if the frame turns out to be malformed, so junk
      // frames cannot redirect replies to a junk MAC.
      const macBefore = this.mac;
      const dropsBefore = this.dropTotal();
      try {
        this.dispatch(this.parse(f, trusted !== undefined && trusted[i] === 1, packet), out, f);
      } catch {
        // A bug guard: a codec or hook that throws on odd input must not take the daemon down.
        this.counters.exceptions++;
      }
      if (this.mac !== macBefore && this.dropTotal() !== dropsBefore) {
        this.mac = macBefore;
        this.counters.guestMacUpdates--;
      }
    }
    this.spare = packet;
    if (out.length > 0) this.send(out);
  }

  /** Stops the timer, closes the L4 hooks and the link; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.raTimer !== undefined) this.opts.clock.clearTimer(this.raTimer);
      if (this.expiryTimer !== undefined) this.opts.clock.clearTimer(this.expiryTimer);
      this.raTimer = undefined;
      this.expiryTimer = undefined;
      try {
        await this.l4.close?.();
      } finally {
        await this.link.close();
      }
    })();
    return this.closing;
  }

  private send(frames: readonly Uint8Array[], partialChecksum?: boolean): void {
    if (frames.length === 0) return;
    const c = this.counters;
    c.txFrames += frames.length;
    for (let i = 0; i < frames.length; i++) c.txBytes += frames[i]!.length;
    if (this.frameTap !== undefined) this.frameTap.toGuest(frames, partialChecksum === true);
    if (!this.link.send(frames, partialChecksum)) c.txBlocked++;
  }

  private armRa(): void {
    if (this.closing || !this.cfg.v6 || this.opts.noRa || this.opts.noNdp) return;
    this.raTimer = this.opts.clock.setTimer(() => {
      this.raTimer = undefined;
      if (this.closing) return;
      const ra = buildRouterAdvert(this.cfg);
      if (ra) {
        this.counters.unsolicitedRas++;
        this.send([ra]);
      }
      this.armRa();
    }, nextUnsolicitedRaMs(this.opts.clock.random()));
  }

  private armExpiry(): void {
    if (this.closing || !this.l4.expire) return;
    this.expiryTimer = this.opts.clock.setTimer(() => {
      this.expiryTimer = undefined;
      if (this.closing) return;
      try {
        this.l4.expire?.(this.opts.clock.now());
      } finally {
        this.armExpiry();
      }
    }, FLOW_EXPIRY_INTERVAL_MS);
  }

  /** Learns the source MAC of `frame` (read in place: nothing is allocated unless it changed). */
  private learnMac(frame: Uint8Array): void {
    const m = this.mac;
    let same = m.length === 6;
    for (let i = 0; i < 6 && same; i++) same = frame[6 + i] === m[i];
    if (same) return;
    const src = frame.subarray(6, 12);
    if (isMulticastMac(src) || src.every((b) => b === 0)) return;
    this.mac = src.slice();
    this.counters.guestMacUpdates++;
  }

  private dropTotal(): number {
    const m = this.counters.malformed;
    return m.truncated + m.malformed + m['bad-checksum'] + m.unsupported;
  }

  /** What route() needs beyond the packet: the options, gateways and installed hooks. */
  private dispatchPolicy(): DispatchPolicy {
    return {
      noDhcp: this.opts.noDhcp === true,
      noDhcpv6: this.opts.noDhcpv6 === true,
      noRa: this.opts.noRa === true,
      noNdp: this.opts.noNdp === true,
      gateway4: this.gateway4,
      gateways6: this.gateways6,
      hooks: { udp: !!this.l4.udp, ping: !!this.l4.ping, tcp: !!this.l4.tcp },
    };
  }

  /** Runs a service and moves the drops it counted into the daemon's `malformed`. */
  private service(
    drops: Record<WireErrorKind, number>,
    run: () => readonly Uint8Array[] | Uint8Array | undefined,
    out: Uint8Array[],
  ): void {
    const before = { ...drops };
    const r = run();
    for (const k of Object.keys(drops) as WireErrorKind[]) {
      this.counters.malformed[k] += drops[k] - before[k];
    }
    if (r === undefined) return;
    if (r instanceof Uint8Array) out.push(r);
    else out.push(...r);
  }

  /** ARP, NDP and echoes to the gateway: the link-layer responder answers. */
  private linkRespond(p: GuestPacket, out: Uint8Array[]): void {
    const counters = this.serviceCounters.responder;
    this.service(counters.drops, () => respond(this.responderCfg, p, counters), out);
  }

  /** Executes the route of one parsed frame (iface/dispatch.ts). */
  private dispatch(p: GuestPacket, out: Uint8Array[], frame: Uint8Array): void {
    if (p.ethertype !== -1) this.learnMac(frame);
    if (p.family !== 0) this.guestAddrs.seen(p.family, p.src);
    const r = route(p, this.policy);
    const c = this.counters;
    const svc = this.serviceCounters;
    switch (r.to) {
      case 'malformed':
        c.malformed[r.kind]++;
        this.opts.onGuestError?.(r.kind, frame);
        return;
      case 'ignored':
        c.ignored++;
        return;
      case 'unhandled':
        c.unhandled++;
        this.opts.onGuestError?.('unhandled', frame);
        return;
      case 'arp':
        c.arp++;
        return this.linkRespond(p, out);
      case 'ndp':
        c.ndp++;
        return this.linkRespond(p, out);
      case 'echo-gateway':
        c.echoGateway++;
        return this.linkRespond(p, out);
      case 'dhcp': {
        c.dhcp++;
        const hostname = this.opts.hostname;
        const o = hostname !== undefined ? { hostname } : {};
        return this.service(svc.dhcp.drops, () => handleDhcp(this.cfg, p, svc.dhcp, o), out);
      }
      case 'dhcpv6':
        c.dhcpv6++;
        return this.service(svc.dhcpv6.drops, () => handleDhcpv6(this.cfg, p, svc.dhcpv6), out);
      case 'router-solicit':
        c.routerSolicits++;
        return this.service(svc.ra.drops, () => handleRouterSolicit(this.cfg, p, svc.ra), out);
      case 'udp': {
        c.udp++;
        this.l4.udp!(p.family as 4 | 6, p.src, p.dst, p.srcPort, p.dstPort, p.payload);
        return;
      }
      case 'ping': {
        const m = p.family === 4 ? p.icmp4Msg : p.icmp6Msg;
        // route() gives `ping` only parsed echo requests; this narrows the type.
        if (m?.type !== 8 && m?.type !== 128) return void c.malformed.malformed++;
        c.ping++;
        this.l4.ping!(p.family as 4 | 6, p.src, p.dst, m.ident, m.seqNo, m.data);
        return;
      }
      case 'tcp':
        c.tcp++;
        this.l4.tcp!(p.family as 4 | 6, p.src, p.dst, p.seg!, p.payload);
        return;
    }
  }

  /** The guest went away: L4 state tied to it is reset (TCP connections). */
  linkDown(): void {
    this.l4.linkDown?.();
  }
}

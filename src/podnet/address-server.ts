// The pod-side address server's core: DHCPv4, DHCPv6 and router advertisements for the VM on an in-pod bridge or tap, frames in, frames out.
//
// Theory of operation. The daemon (runner/address-server.ts) feeds every frame its packet socket
// sees (already filtered to DHCPv4/DHCPv6 requests and router solicitations) to `handleFrame`,
// and sends what comes back out of the same socket. There is one implementation of each
// protocol in bindery: the translator's services in usernet/iface/ (handleDhcp, handleDhcpv6,
// handleRouterSolicit, buildRouterAdvert), driven here through a PasstConfig derived from the
// AddressServerConfig plus their pod-side options:
// - DHCPv4 (RFC 2131): DISCOVER → OFFER, REQUEST → ACK or NAK for a wrong address, INFORM →
//   ACK. Server identifier and reply source = v4.serverAddress; option 3 = v4.router (none
//   without one); option 121 = v4.routes as given (RFC 3442); 6, 26, 12, 119 from the config.
//   Lease time infinite (0xffffffff), as Virtink's dnsmasq ("infinite") and passt; KubeVirt's
//   999 days would only make clients renew for an address that never changes.
// - DHCPv6 (RFC 8415): Solicit → Advertise (Reply with Rapid Commit), Request/Renew/Rebind →
//   Reply with IA_NA = v6.address (infinite lifetimes), Information-request → Reply; options
//   23 (DNS) and 24 (domain list); server DUID = DUID-LL of serverMac; source routerLinkLocal.
// - RA (RFC 4861 §6.2): answers to RS and unsolicited RAs to ff02::1, from routerLinkLocal with
//   serverMac as SLLAO; M flag; prefix information for onLinkPrefix with L=1, A=0 (the address
//   comes from DHCPv6); MTU; RDNSS/DNSSL (RFC 8106). Router lifetime 65535 s makes the guest
//   take routerLinkLocal as its default router. Unsolicited RAs follow §6.2.4: one at start,
//   then MAX_INITIAL_RTR_ADVERTISEMENTS - 1 more at most MAX_INITIAL_RTR_ADVERT_INTERVAL apart,
//   then every [MinRtrAdvInterval, MaxRtrAdvInterval] (200..600 s), random, time injected.
// Frames the kernel marks as carrying a partial checksum (a sender on this host with checksum
// offload, e.g. a DHCPv6 client's UDP socket behind a veth or a virtio guest behind a tap) get
// their UDP checksum completed on a copy before the services verify it.
// With clientMac set, frames from any other source MAC are ignored (counted `filtered`).
// Whatever cannot be parsed is counted and dropped; nothing here throws on guest bytes.
// Every grant (DHCPv4 ACK with an address, DHCPv6 Reply with IA_NA) is recorded in the lease
// store and logged at info level.
import type { Logger } from 'pino';
import type { AddressServerConfig } from './address-config.js';
import { parseCidr } from './address-config-check.js';
import type { LeaseStore } from './lease-store.js';
import type { PasstConfig } from '../usernet/conf.js';
import type { Clock } from '../usernet/passt.js';
import { parseGuestFrame, type GuestPacket } from '../usernet/iface/packet.js';
import {
  handleDhcp,
  newAddressServiceCounters,
  type AddressServiceCounters,
  type DhcpServerOptions,
} from '../usernet/iface/dhcp-server.js';
import { handleDhcpv6, type Dhcpv6ServerOptions } from '../usernet/iface/dhcpv6-server.js';
import {
  buildRouterAdvert,
  handleRouterSolicit,
  nextUnsolicitedRaMs,
  type RaOptions,
} from '../usernet/iface/ra.js';
import { DhcpMessageType, DhcpView, parseDhcp } from '../wire/dhcp.js';
import { findAllDhcpv6Options, findDhcpv6Option, parseDhcpv6 } from '../wire/dhcpv6.js';
import { IpProtocol } from '../wire/ipv4.js';
import { emitUdp } from '../wire/udp.js';
import { formatMac, isWireError, parseIpv4, parseMac, type Mac } from '../wire/common.js';

/** MAX_INITIAL_RTR_ADVERT_INTERVAL (RFC 4861 §10), ms. */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL_MS = 16_000;
/** MAX_INITIAL_RTR_ADVERTISEMENTS (RFC 4861 §10). */
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;

/** What the core counts. */
export interface AddressServerCounters {
  /** Frames offered to handleFrame. */
  frames: number;
  /** Frames from another MAC than clientMac. */
  filtered: number;
  /** Frames whose Ethernet or IP header did not parse. */
  malformed: number;
  /** Frames of no service here (other protocols, or a family not configured). */
  ignored: number;
  /** Unsolicited RAs sent. */
  unsolicitedRas: number;
  /** Leases granted (and recorded). */
  grants: number;
  /** Lease file writes that failed. */
  leaseWriteErrors: number;
  /** Frames a service threw on (a bug: the services must not throw on guest bytes). */
  internalErrors: number;
  dhcp: AddressServiceCounters;
  dhcpv6: AddressServiceCounters;
  ra: AddressServiceCounters;
}

/** The frame sink and the context the core runs in. */
export interface AddressServerDeps {
  /** Sends one Ethernet frame out of the device. */
  send(frame: Uint8Array): void;
  readonly clock: Clock;
  /** Wall-clock time for lease records (ms since the epoch). */
  wallNow(): number;
  readonly log: Logger;
  readonly leases: LeaseStore;
}

/** Delay before unsolicited RA number `sent` + 1 (RFC 4861 §6.2.4), `rand` in [0, 1). */
export function unsolicitedRaDelayMs(sent: number, rand: number): number {
  const regular = nextUnsolicitedRaMs(rand);
  return sent < MAX_INITIAL_RTR_ADVERTISEMENTS
    ? Math.min(MAX_INITIAL_RTR_ADVERT_INTERVAL_MS, regular)
    : regular;
}

/**
 * A copy of `frame` with its UDP checksum computed in full, for a frame whose checksum the
 * sender left partial (offload). Undefined when it is not an Ethernet + IPv4/IPv6 + UDP frame
 * whose lengths fit (the parser then judges the original). IPv6: UDP right after the fixed
 * header only, as the packet socket's filter passes.
 */
export function completeUdpChecksum(frame: Uint8Array): Uint8Array | undefined {
  if (frame.length < 14 + 20) return undefined;
  const type = (frame[12]! << 8) | frame[13]!;
  let l4: number;
  let src: Uint8Array;
  let dst: Uint8Array;
  if (type === 0x0800) {
    l4 = 14 + (frame[14]! & 0x0f) * 4;
    if (frame[23] !== IpProtocol.Udp) return undefined;
    src = frame.subarray(26, 30);
    dst = frame.subarray(30, 34);
  } else if (type === 0x86dd) {
    l4 = 14 + 40;
    if (frame[20] !== IpProtocol.Udp) return undefined;
    src = frame.subarray(22, 38);
    dst = frame.subarray(38, 54);
  } else return undefined;
  if (frame.length < l4 + 8) return undefined;
  const len = (frame[l4 + 4]! << 8) | frame[l4 + 5]!;
  if (len < 8 || l4 + len > frame.length) return undefined;
  const out = frame.slice();
  const udp = out.subarray(l4);
  emitUdp(
    { srcPort: (udp[0]! << 8) | udp[1]!, dstPort: (udp[2]! << 8) | udp[3]!, payloadLen: len - 8 },
    udp,
    out.subarray(src.byteOffset - frame.byteOffset, src.byteOffset - frame.byteOffset + src.length),
    out.subarray(dst.byteOffset - frame.byteOffset, dst.byteOffset - frame.byteOffset + dst.length),
  );
  return out;
}

/** The translator-shaped configuration the shared services read. */
export function servicesConfig(cfg: AddressServerConfig): PasstConfig {
  const prefix6 = cfg.v6 ? parseCidr(cfg.v6.onLinkPrefix, 6) : undefined;
  return {
    v4: cfg.v4
      ? {
          guestAddr: cfg.v4.address,
          prefixLen: cfg.v4.prefixLength,
          gateway: cfg.v4.router ?? cfg.v4.serverAddress,
          mapHostLoopback: undefined,
          hostIface: undefined,
        }
      : undefined,
    v6: cfg.v6
      ? {
          guestAddr: cfg.v6.address,
          prefixLen: prefix6?.prefixLen ?? 64,
          // Link-local (checked): the services then send RAs and DHCPv6 replies from it.
          gateway: cfg.v6.routerLinkLocal,
          mapHostLoopback: undefined,
          hostIface: undefined,
        }
      : undefined,
    mtu: cfg.mtu ?? 0,
    ourMac: parseMac(cfg.serverMac)!,
    nameservers: [...(cfg.v4?.dns ?? []), ...(cfg.v6?.dns ?? [])],
    search: cfg.search,
  };
}

function v4Options(cfg: AddressServerConfig): DhcpServerOptions {
  const v4 = cfg.v4!;
  return {
    ...(cfg.hostname !== undefined ? { hostname: cfg.hostname } : {}),
    serverId: v4.serverAddress,
    routers: v4.router !== undefined ? [v4.router] : [],
    classlessRoutes: v4.routes.map((r) => {
      const c = parseCidr(r.dst, 4)!;
      return { prefix: c.addr, prefixLen: c.prefixLen, router: parseIpv4(r.via)! };
    }),
  };
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** The server core of one device. */
export class AddressServer {
  readonly counters: AddressServerCounters = {
    frames: 0,
    filtered: 0,
    malformed: 0,
    ignored: 0,
    unsolicitedRas: 0,
    grants: 0,
    leaseWriteErrors: 0,
    internalErrors: 0,
    dhcp: newAddressServiceCounters(),
    dhcpv6: newAddressServiceCounters(),
    ra: newAddressServiceCounters(),
  };
  private readonly services: PasstConfig;
  private readonly dhcpOpts: DhcpServerOptions;
  private readonly dhcpv6Opts: Dhcpv6ServerOptions;
  private readonly raOpts: RaOptions;
  private readonly clientMac: Mac | undefined;
  private raTimer: unknown;
  private running = false;

  constructor(
    readonly config: AddressServerConfig,
    private readonly deps: AddressServerDeps,
  ) {
    this.services = servicesConfig(config);
    this.dhcpOpts = config.v4 ? v4Options(config) : {};
    const p6 = config.v6 ? parseCidr(config.v6.onLinkPrefix, 6) : undefined;
    this.dhcpv6Opts = p6 ? { onLinkPrefixLen: p6.prefixLen } : {};
    this.raOpts = p6 ? { prefix: { prefixLen: p6.prefixLen, autonomous: false } } : {};
    this.clientMac = config.clientMac !== undefined ? parseMac(config.clientMac) : undefined;
  }

  /** Logs stored leases the configuration overrides, and starts the unsolicited RAs (IPv6). */
  start(): void {
    for (const l of this.deps.leases.all()) {
      const want = l.family === 4 ? this.config.v4?.address : this.config.v6?.address;
      if (want !== undefined && want !== l.address)
        this.deps.log.warn(
          { family: l.family, mac: l.mac, stored: l.address, configured: want },
          'stored lease differs from the configuration: the configuration wins',
        );
    }
    this.running = true;
    if (this.config.v6) this.sendUnsolicitedRa();
  }

  /** Stops the RA timer. */
  stop(): void {
    this.running = false;
    if (this.raTimer !== undefined) this.deps.clock.clearTimer(this.raTimer);
    this.raTimer = undefined;
  }

  private sendUnsolicitedRa(): void {
    this.raTimer = undefined;
    if (!this.running) return;
    const f = buildRouterAdvert(this.services, undefined, this.raOpts);
    if (f) {
      this.deps.send(f);
      this.counters.unsolicitedRas++;
    }
    const delay = unsolicitedRaDelayMs(this.counters.unsolicitedRas, this.deps.clock.random());
    this.raTimer = this.deps.clock.setTimer(() => this.sendUnsolicitedRa(), delay);
  }

  /**
   * Answers one frame from the device (the frame is read during the call only).
   *
   * @param csumPartial - the kernel marked its L4 checksum partial (PACKET_CSUM_PARTIAL)
   */
  handleFrame(frame: Uint8Array, csumPartial = false): void {
    const c = this.counters;
    c.frames++;
    try {
      const reply = this.answer(csumPartial ? (completeUdpChecksum(frame) ?? frame) : frame);
      if (reply) this.deps.send(reply);
    } catch (e) {
      // The services never throw on guest bytes; should one, the frame is dropped, not the server.
      c.internalErrors++;
      this.deps.log.warn({ err: e }, 'frame handling failed');
    }
  }

  private answer(frame: Uint8Array): Uint8Array | undefined {
    const c = this.counters;
    const p = parseGuestFrame(frame);
    if (!p.eth || p.errorAt === 'eth' || p.errorAt === 'net') {
      c.malformed++;
      return undefined;
    }
    if (this.clientMac && !p.eth.src.every((b, i) => b === this.clientMac![i])) {
      c.filtered++;
      return undefined;
    }
    if (p.family === 4 && p.protocol === IpProtocol.Udp && this.config.v4) {
      const reply = handleDhcp(this.services, p, c.dhcp, this.dhcpOpts);
      if (reply) this.recordDhcp(p, reply);
      return reply;
    }
    if (p.family === 6 && p.protocol === IpProtocol.Udp && this.config.v6) {
      const reply = handleDhcpv6(this.services, p, c.dhcpv6, this.dhcpv6Opts);
      if (reply) this.recordDhcpv6(p, reply);
      return reply;
    }
    if (p.family === 6 && p.protocol === IpProtocol.Icmpv6 && this.config.v6)
      return handleRouterSolicit(this.services, p, c.ra, this.raOpts);
    c.ignored++;
    return undefined;
  }

  /** Records a DHCPv4 ACK that hands out an address (not a NAK, OFFER or INFORM answer). */
  private recordDhcp(p: GuestPacket, reply: Uint8Array): void {
    const r = parseGuestFrame(reply);
    const dv = DhcpView.checked(r.payload);
    if (isWireError(dv)) return;
    const ack = parseDhcp(dv);
    if (isWireError(ack) || ack.messageType !== DhcpMessageType.Ack) return;
    if (ack.yiaddr.every((b) => b === 0)) return;
    this.grant(4, formatMac(p.eth!.src), this.config.v4!.address);
  }

  /** Records a DHCPv6 Reply that carries IA_NA (Request, Renew, Rebind, rapid Solicit). */
  private recordDhcpv6(p: GuestPacket, reply: Uint8Array): void {
    const r = parseGuestFrame(reply);
    const msg = parseDhcpv6(r.payload);
    if (isWireError(msg) || msg.msgType !== 7) return;
    const ia = findAllDhcpv6Options(msg.options, 3)[0];
    const clientId = findDhcpv6Option(msg.options, 1);
    if (!ia || !clientId) return;
    this.grant(6, formatMac(p.eth!.src), this.config.v6!.address, hex(clientId.duid.raw), ia.iaid);
  }

  private grant(family: 4 | 6, mac: string, address: string, duid?: string, iaid?: number): void {
    const c = this.counters;
    c.grants++;
    const lease = {
      family,
      mac,
      ...(duid !== undefined ? { duid } : {}),
      ...(iaid !== undefined ? { iaid } : {}),
      address,
      grantedAt: new Date(this.deps.wallNow()).toISOString(),
      expiresAt: null,
    };
    this.deps.leases.grant(lease).then(
      (previous) =>
        this.deps.log.info(
          {
            family,
            mac,
            ...(duid !== undefined ? { duid } : {}),
            address,
            ...(previous && previous.address !== address ? { replaced: previous.address } : {}),
            renewal: previous?.address === address,
          },
          'lease granted',
        ),
      (e: unknown) => {
        c.leaseWriteErrors++;
        this.deps.log.error({ err: e, family, mac, address }, 'lease granted but not stored');
      },
    );
  }
}

// The translator's DHCPv4 server: one guest frame in, at most one reply frame out, as passt's dhcp.c does it.
//
// Pure: no clock, no sockets. It never throws on guest bytes; whatever it cannot parse or does
// not serve is counted and answered with nothing. Behaviour (facts-passt §4, RFC 2131 §4.3):
// - DISCOVER → OFFER, or ACK with option 80 when the client asked for Rapid Commit (RFC 4039 §4).
// - REQUEST → ACK for the guest's address; NAK when it asks for another one (option 50 or
//   ciaddr, RFC 2131 §4.3.2); a REQUEST naming another server (option 54) is not ours.
// - INFORM → ACK without yiaddr and without a lease time (RFC 2131 §4.3.5).
// - Options: 1, 3, 6, 12 (when a host name is configured), 26 (unless mtu is 0), 51 = infinite,
//   53, 54 = the gateway, 119 (RFC 3397), 121 (RFC 3442) when the gateway lies outside the
//   guest's subnet: a host route to the gateway plus the default route through it, since a
//   client that gets 121 ignores 3 (RFC 3442 p. 5).
// - Replies come from the gateway, port 67 to 68; to broadcast when the client set the broadcast
//   flag or has no address yet (ciaddr 0), else unicast to its address (RFC 2131 §4.1).
// The pod-side address server (src/podnet/address-server.ts) reuses this with DhcpServerOptions:
// another server identifier/reply source, an explicit router list and explicit option-121 routes.
import { IpProtocol } from '../../wire/ipv4.js';
import { emitUdp, udpBufferLen, UDP_HEADER_LEN } from '../../wire/udp.js';
import {
  DhcpMessageType,
  DhcpOp,
  DhcpView,
  dhcpBufferLen,
  emitDhcp,
  parseDhcp,
  type DhcpClasslessRoute,
  type DhcpRepr,
} from '../../wire/dhcp.js';
import { buildIpv4Frame } from '../../wire/build.js';
import { isWireError, parseIpv4, type Mac, type WireErrorKind } from '../../wire/common.js';
import { acceptDatagram, type GuestPacket } from './packet.js';
import type { PasstConfig } from '../conf.js';

/** DHCP server port (RFC 2131 §4.1). */
export const DHCP_SERVER_PORT = 67;
/** DHCP client port (RFC 2131 §4.1). */
export const DHCP_CLIENT_PORT = 68;
/** Lease time bindery hands out: infinite (RFC 2132 §9.2), as passt does. */
export const INFINITE_LEASE = 0xffffffff;

/** Counters shared by the address services (DHCP, DHCPv6, RA). */
export interface AddressServiceCounters {
  /** Frames offered to the service. */
  rxFrames: number;
  /** Reply frames produced. */
  replies: number;
  /** Frames that are not for this service (other protocols or ports): not errors. */
  ignored: number;
  /** Requests for this service that it deliberately does not answer (type, other server…). */
  unhandled: number;
  /** Frames dropped because they could not be parsed, by WireError kind. */
  drops: Record<WireErrorKind, number>;
  /** Leases given: DHCP ACKs with an address, DHCPv6 Replies holding an IA_NA address. */
  leases: number;
}

/** Fresh zeroed counters. */
export function newAddressServiceCounters(): AddressServiceCounters {
  return {
    rxFrames: 0,
    replies: 0,
    ignored: 0,
    unhandled: 0,
    drops: { truncated: 0, malformed: 0, 'bad-checksum': 0, unsupported: 0 },
    leases: 0,
  };
}

/** Settings of the DHCP server beyond {@link PasstConfig}. */
export interface DhcpServerOptions {
  /** Host name for option 12 (passt -H); omitted when undefined. */
  readonly hostname?: string;
  /**
   * Server identifier (option 54) and source address of replies; default: the gateway. A REQUEST
   * naming another server identifier is not ours.
   */
  readonly serverId?: string;
  /** Routers for option 3, in order; empty: no option 3. Default: the gateway. */
  readonly routers?: readonly string[];
  /**
   * Option 121 routes, sent as given (empty: no option 121). Default: passt's, a host route to
   * the gateway and the default route through it when the gateway is outside the subnet.
   */
  readonly classlessRoutes?: readonly DhcpClasslessRoute[];
}

const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const BROADCAST_IP = new Uint8Array([255, 255, 255, 255]);
const ZERO_IP = new Uint8Array(4);

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isZero(a: Uint8Array): boolean {
  return a.every((x) => x === 0);
}

function maskOf(prefixLen: number): Uint8Array {
  const m = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    m[i] = (0xff << (8 - bits)) & 0xff;
  }
  return m;
}

function sameSubnet(a: Uint8Array, b: Uint8Array, mask: Uint8Array): boolean {
  for (let i = 0; i < 4; i++) if ((a[i]! & mask[i]!) !== (b[i]! & mask[i]!)) return false;
  return true;
}

/**
 * Answers one frame from the guest if it is a DHCP request bindery serves.
 *
 * @param cfg - the translator's configuration; without `v4` nothing is answered
 * @param p - a guest frame, parsed (iface/packet.ts); read, never parsed again
 * @param c - counters, updated in place
 * @param opts - extra settings (host name)
 * @returns the reply frame, or undefined (the reason is counted)
 */
export function handleDhcp(
  cfg: PasstConfig,
  p: GuestPacket,
  c: AddressServiceCounters,
  opts: DhcpServerOptions = {},
): Uint8Array | undefined {
  c.rxFrames++;
  const out = answer(cfg, p, c, opts);
  if (out) c.replies++;
  return out;
}

function drop(c: AddressServiceCounters, kind: WireErrorKind): undefined {
  c.drops[kind]++;
  return undefined;
}

function answer(
  cfg: PasstConfig,
  p: GuestPacket,
  c: AddressServiceCounters,
  opts: DhcpServerOptions,
): Uint8Array | undefined {
  const v4 = cfg.v4;
  const guest = v4 ? parseIpv4(v4.guestAddr) : undefined;
  const gateway = v4 ? parseIpv4(v4.gateway) : undefined;
  const server = opts.serverId !== undefined ? parseIpv4(opts.serverId) : gateway;
  if (!v4 || !guest || !gateway || !server) {
    c.ignored++;
    return undefined;
  }
  if (!acceptDatagram(p, 4, DHCP_SERVER_PORT, c) || !p.eth) return undefined;
  const eth = p.eth;
  const dv = DhcpView.checked(p.payload);
  if (isWireError(dv)) return drop(c, dv.kind);
  const req = parseDhcp(dv);
  if (isWireError(req)) return drop(c, req.kind);
  // Plain BOOTP (no cookie), replies and messages without option 53 are not served.
  if (req.op !== DhcpOp.BootRequest || req.messageType === undefined || req.hlen > 16) {
    c.unhandled++;
    return undefined;
  }

  const mask = maskOf(v4.prefixLen);
  let type: number;
  let yiaddr: Uint8Array = guest;
  let rapid = false;
  switch (req.messageType) {
    case DhcpMessageType.Discover:
      rapid = req.rapidCommit === true;
      type = rapid ? DhcpMessageType.Ack : DhcpMessageType.Offer;
      break;
    case DhcpMessageType.Request: {
      // RFC 2131 §4.3.2: a REQUEST selecting another server is the client declining our offer.
      if (req.serverId && !eq(req.serverId, server)) {
        c.unhandled++;
        return undefined;
      }
      const wanted = req.requestedAddr ?? (isZero(req.ciaddr) ? undefined : req.ciaddr);
      type = wanted && !eq(wanted, guest) ? DhcpMessageType.Nak : DhcpMessageType.Ack;
      break;
    }
    case DhcpMessageType.Inform:
      type = DhcpMessageType.Ack;
      yiaddr = ZERO_IP;
      break;
    default:
      c.unhandled++;
      return undefined;
  }

  const base = {
    op: DhcpOp.BootReply,
    htype: req.htype,
    hlen: req.hlen,
    hops: 0,
    xid: req.xid,
    secs: 0,
    broadcast: req.broadcast,
    giaddr: req.giaddr,
    chaddr: req.chaddr,
    siaddr: ZERO_IP,
    sname: new Uint8Array(0),
    file: new Uint8Array(0),
    options: [],
    serverId: server,
  };
  let reply: DhcpRepr;
  if (type === DhcpMessageType.Nak) {
    // RFC 2131 §4.3.2 table 3: a NAK carries no addresses and no configuration.
    reply = { ...base, ciaddr: ZERO_IP, yiaddr: ZERO_IP, messageType: type, broadcast: true };
  } else {
    const outside = !sameSubnet(guest, gateway, mask);
    const routes: readonly DhcpClasslessRoute[] | undefined = opts.classlessRoutes
      ? opts.classlessRoutes.length > 0
        ? opts.classlessRoutes
        : undefined
      : outside
        ? [
            { prefix: gateway, prefixLen: 32, router: ZERO_IP },
            { prefix: ZERO_IP, prefixLen: 0, router: gateway },
          ]
        : undefined;
    const routers = opts.routers
      ? opts.routers.map((s) => parseIpv4(s)).filter((a): a is Uint8Array => a !== undefined)
      : [gateway];
    const dns = cfg.nameservers
      .map((s) => parseIpv4(s))
      .filter((a): a is Uint8Array => a !== undefined);
    const search = cfg.search.filter((s) => s.length > 0 && s !== '.');
    reply = {
      ...base,
      ciaddr: type === DhcpMessageType.Offer ? ZERO_IP : req.ciaddr,
      yiaddr,
      messageType: type,
      subnetMask: mask,
      ...(routers.length > 0 ? { routers } : {}),
      ...(dns.length > 0 ? { dnsServers: dns } : {}),
      ...(opts.hostname ? { hostName: opts.hostname } : {}),
      ...(cfg.mtu > 0 ? { interfaceMtu: Math.min(cfg.mtu, 0xffff) } : {}),
      ...(req.messageType === DhcpMessageType.Inform ? {} : { leaseTimeS: INFINITE_LEASE }),
      ...(search.length > 0 ? { domainSearch: search } : {}),
      ...(routes ? { classlessRoutes: routes } : {}),
      ...(rapid ? { rapidCommit: true } : {}),
    };
  }

  let payloadLen: number;
  try {
    payloadLen = dhcpBufferLen(reply);
  } catch {
    // A search list or host name the codec cannot encode: configuration, not guest input.
    return drop(c, 'unsupported');
  }
  const toBroadcast = type === DhcpMessageType.Nak || req.broadcast || isZero(req.ciaddr);
  const dstIp = toBroadcast
    ? BROADCAST_IP
    : req.messageType === DhcpMessageType.Inform
      ? req.ciaddr
      : yiaddr;
  const dstMac: Mac = toBroadcast ? BROADCAST_MAC : eth.src.slice();
  if (type === DhcpMessageType.Ack && !isZero(yiaddr)) c.leases++;
  const udpRepr = { srcPort: DHCP_SERVER_PORT, dstPort: DHCP_CLIENT_PORT, payloadLen };
  return buildIpv4Frame(
    cfg.ourMac,
    dstMac,
    { src: server, dst: dstIp, protocol: IpProtocol.Udp },
    udpBufferLen(udpRepr),
    (l4) => {
      emitDhcp(reply, l4.subarray(UDP_HEADER_LEN));
      emitUdp(udpRepr, l4, server, dstIp);
    },
  );
}

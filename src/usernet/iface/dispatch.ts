// The translator's dispatch table: which service or L4 hook a parsed guest frame goes to (pure).
//
// Theory of operation
// ===================
//
// route(packet, policy) reads a packet parsed once by packet.ts and names its destination;
// PasstDaemon (passt.ts) executes the route: counts it, runs the service or calls the hook.
// Nothing here parses bytes, keeps state or throws.
//
// Dispatch order, per frame (the first match wins):
//   1. Ethernet header unreadable                → malformed
//   2. ARP                                       → arp: iface/responder (replies for everything
//                                                  but the guest's own address)
//   3. IPv4 header unreadable or bad checksum    → malformed
//      IPv4 TCP, unfragmented                    → tcp (below)
//      fragments                                 → unhandled
//      IPv4 UDP to port 67, unless --no-dhcp     → dhcp: iface/dhcp-server
//      IPv4 ICMP to the gateway                  → echo-gateway: iface/responder (echo replies)
//      IPv4 ICMP echo request elsewhere          → ping: L4 hook `ping` (flow/icmp.ts)
//      other IPv4 ICMP                           → unhandled
//      IPv4 UDP elsewhere                        → udp: L4 hook `udp` (flow/udp.ts)
//   4. IPv6 header or extension chain unreadable → malformed; fragments → unhandled
//      IPv6 ICMPv6 RS, unless --no-ra/--no-ndp   → router-solicit: iface/ra (solicited RA)
//      IPv6 ICMPv6 NS, unless --no-ndp           → ndp: iface/responder (NA with our MAC)
//      IPv6 ICMPv6 echo to a gateway address     → echo-gateway: iface/responder
//      IPv6 ICMPv6 echo request elsewhere        → ping: L4 hook `ping`
//      other ICMPv6 (NA, MLD, …)                 → ignored
//      IPv6 UDP to port 547, unless --no-dhcpv6  → dhcpv6: iface/dhcpv6-server
//      IPv6 UDP elsewhere                        → udp: L4 hook `udp`
//   5. IPv4/IPv6 TCP (checksum verified unless the link vouched for it) → tcp: L4 hook `tcp`
//      (flow/tcp/)
//   6. Other protocols, and L4 traffic with no hook installed → unhandled (the extension
//      point: `L4Hooks`). Other EtherTypes are ignored.
// Where a header or checksum is checked matters for the counters: a frame that reaches a
// service (arp, ndp, echo-gateway, dhcp, dhcpv6, router-solicit) is the service's to drop if
// its own layers are malformed (it counts the drop; the daemon adds it to `malformed`), while
// what the L4 hooks get is checked here first. An L4 frame without its hook is `unhandled`
// whatever its L4 bytes, except UDP and ICMP ones that are malformed before that question.
import { EtherType } from '../../wire/ethernet.js';
import { IpProtocol } from '../../wire/ipv4.js';
import type { WireErrorKind } from '../../wire/common.js';
import { failedAt, type GuestPacket } from './packet.js';
import { DHCP_SERVER_PORT } from './dhcp-server.js';
import { DHCPV6_SERVER_PORT } from './dhcpv6-server.js';

/** Where a frame goes: a link service, an L4 hook, or a counter. */
export type Route =
  | {
      readonly to:
        | 'arp'
        | 'ndp'
        | 'echo-gateway'
        | 'dhcp'
        | 'dhcpv6'
        | 'router-solicit'
        | 'udp'
        | 'ping'
        | 'tcp'
        | 'ignored'
        | 'unhandled';
    }
  | { readonly to: 'malformed'; readonly kind: WireErrorKind };

/** What route() decides by, beyond the packet: services switched off, gateways, hooks present. */
export interface DispatchPolicy {
  readonly noDhcp: boolean;
  readonly noDhcpv6: boolean;
  readonly noRa: boolean;
  readonly noNdp: boolean;
  /** The gateway's IPv4 address (echo requests to it are answered by the responder). */
  readonly gateway4: Uint8Array | undefined;
  /** The gateway's IPv6 addresses (link-local router address first). */
  readonly gateways6: readonly Uint8Array[];
  /** Which L4 hooks are installed. */
  readonly hooks: { readonly udp: boolean; readonly ping: boolean; readonly tcp: boolean };
}

function fixed<T extends Route['to']>(to: T): { readonly to: T } {
  return Object.freeze({ to });
}

/** The routes without arguments, preallocated (route() allocates nothing). */
export const ROUTES = {
  arp: fixed('arp'),
  ndp: fixed('ndp'),
  echoGateway: fixed('echo-gateway'),
  dhcp: fixed('dhcp'),
  dhcpv6: fixed('dhcpv6'),
  routerSolicit: fixed('router-solicit'),
  udp: fixed('udp'),
  ping: fixed('ping'),
  tcp: fixed('tcp'),
  ignored: fixed('ignored'),
  unhandled: fixed('unhandled'),
} as const;

const MALFORMED: Record<WireErrorKind, Route> = {
  truncated: Object.freeze({ to: 'malformed', kind: 'truncated' }),
  malformed: Object.freeze({ to: 'malformed', kind: 'malformed' }),
  'bad-checksum': Object.freeze({ to: 'malformed', kind: 'bad-checksum' }),
  unsupported: Object.freeze({ to: 'malformed', kind: 'unsupported' }),
};

/**
 * The route of a malformed frame.
 *
 * @param kind - Why it is malformed.
 * @returns The shared route value.
 */
export function malformed(kind: WireErrorKind): Route {
  return MALFORMED[kind];
}

function eq(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Where a parsed guest frame goes (see the dispatch order at the top of this file).
 *
 * @param p - The frame, parsed by parseGuestFrame.
 * @param policy - Services switched off, gateway addresses, hooks installed.
 * @returns The route; never throws.
 */
export function route(p: GuestPacket, policy: DispatchPolicy): Route {
  const e = failedAt(p, 'eth');
  if (e) return malformed(e);
  switch (p.ethertype) {
    case EtherType.Arp:
      return ROUTES.arp;
    case EtherType.Ipv4:
      return ipv4(p, policy);
    case EtherType.Ipv6:
      return ipv6(p, policy);
    default:
      return ROUTES.ignored;
  }
}

function ipv4(p: GuestPacket, policy: DispatchPolicy): Route {
  const net = failedAt(p, 'net');
  if (net) return malformed(net);
  if (p.fragment) return ROUTES.unhandled;
  switch (p.protocol) {
    case IpProtocol.Tcp:
      return tcp(p, policy);
    case IpProtocol.Udp: {
      const l4 = failedAt(p, 'l4');
      if (l4) return malformed(l4);
      if (p.dstPort === DHCP_SERVER_PORT && !policy.noDhcp) return ROUTES.dhcp;
      return udp(p, policy);
    }
    case IpProtocol.Icmp: {
      if (eq(p.dst, policy.gateway4)) return ROUTES.echoGateway;
      const l4 = failedAt(p, 'l4');
      if (l4) return malformed(l4);
      if (p.icmp4?.type !== 8) return ROUTES.unhandled;
      const msg = failedAt(p, 'msg');
      if (msg) return malformed(msg);
      return policy.hooks.ping ? ROUTES.ping : ROUTES.unhandled;
    }
    default:
      return ROUTES.unhandled;
  }
}

function ipv6(p: GuestPacket, policy: DispatchPolicy): Route {
  const net = failedAt(p, 'net');
  if (net) return malformed(net);
  if (p.fragment) return ROUTES.unhandled;
  switch (p.protocol) {
    case IpProtocol.Icmpv6: {
      const l4 = failedAt(p, 'l4');
      if (l4) return malformed(l4);
      switch (p.icmp6?.type) {
        case 133:
          return policy.noRa || policy.noNdp ? ROUTES.ignored : ROUTES.routerSolicit;
        case 135:
          return policy.noNdp ? ROUTES.ignored : ROUTES.ndp;
        case 128: {
          const gw = policy.gateways6;
          for (let i = 0; i < gw.length; i++) if (eq(p.dst, gw[i])) return ROUTES.echoGateway;
          const msg = failedAt(p, 'msg');
          if (msg) return malformed(msg);
          return policy.hooks.ping ? ROUTES.ping : ROUTES.unhandled;
        }
        default:
          return ROUTES.ignored;
      }
    }
    case IpProtocol.Udp: {
      const l4 = failedAt(p, 'l4');
      if (l4) return malformed(l4);
      if (p.dstPort === DHCPV6_SERVER_PORT && !policy.noDhcpv6) return ROUTES.dhcpv6;
      return udp(p, policy);
    }
    case IpProtocol.Tcp:
      return tcp(p, policy);
    default:
      return ROUTES.unhandled;
  }
}

/** A UDP datagram not for a service: checked first, then the hook's if there is one. */
function udp(p: GuestPacket, policy: DispatchPolicy): Route {
  const msg = failedAt(p, 'msg');
  if (msg) return malformed(msg);
  return policy.hooks.udp ? ROUTES.udp : ROUTES.unhandled;
}

/** A TCP segment: without the hook it is unhandled whatever its header says. */
function tcp(p: GuestPacket, policy: DispatchPolicy): Route {
  if (!policy.hooks.tcp) return ROUTES.unhandled;
  const err = failedAt(p, 'l4') ?? failedAt(p, 'msg');
  return err ? malformed(err) : ROUTES.tcp;
}

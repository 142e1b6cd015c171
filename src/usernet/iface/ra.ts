// The translator's Router Advertisements: answers to Router Solicitations and the unsolicited RA timer, as passt's ndp.c.
//
// Pure: time and randomness come from the caller. Contents (facts-passt §4, RFC 4861 §4.2,
// §6.2): M flag set (addresses by DHCPv6), router lifetime 65535 s as passt sends it, the /64 of
// the guest's address with L and A and infinite lifetimes (RFC 4862 §5.5.3), the MTU option
// (unless mtu is 0), RDNSS and DNSSL with infinite lifetime when there are IPv6 resolvers or
// search domains (RFC 8106 §5), and our MAC as the source link-layer address. The source is
// fe80::1, or the gateway when it is itself link-local (RFC 4861 §6.1.2: RAs come from a
// link-local address); hop limit 255.
// The pod-side address server reuses this with RaOptions: its own on-link prefix (length, and
// the A flag off: masquerade advertises fd10:0:2::/120 with L=1, A=0 next to DHCPv6).
import { multicastMac6, isLinkLocal6 } from '../../wire/ipv6.js';
import { IpProtocol } from '../../wire/ipv4.js';
import {
  emitIcmpv6,
  icmpv6BufferLen,
  type NdpOption,
  type NdpRouterAdvertRepr,
} from '../../wire/icmpv6.js';
import { buildIpv6Frame } from '../../wire/build.js';
import { parseIpv6, type Mac, type WireErrorKind } from '../../wire/common.js';
import { acceptPacket, failedAt, type GuestPacket } from './packet.js';
import type { PasstConfig } from '../conf.js';
import type { AddressServiceCounters } from './dhcp-server.js';

/** Router lifetime passt advertises (seconds). */
export const RA_ROUTER_LIFETIME = 65535;
/** Infinite NDP lifetime (RFC 4861 §4.6.2). */
export const NDP_INFINITE = 0xffffffff;
/** MaxRtrAdvInterval (RFC 4861 §6.2.1), the longest gap between unsolicited RAs, in ms. */
export const MAX_RTR_ADV_INTERVAL_MS = 600_000;
/** MinRtrAdvInterval: RFC 4861 §6.2.1's default of 0.33 × MaxRtrAdvInterval, in ms. */
export const MIN_RTR_ADV_INTERVAL_MS = 200_000;

const ALL_NODES = parseIpv6('ff02::1')!;
const FE80_1 = parseIpv6('fe80::1')!;

/**
 * The address RAs (and DHCPv6 replies) come from: the configured gateway when it is link-local,
 * else fe80::1.
 *
 * @param cfg - the translator's configuration
 * @returns a link-local address
 */
export function routerLinkLocal(cfg: PasstConfig): Uint8Array {
  const gw = cfg.v6 ? parseIpv6(cfg.v6.gateway) : undefined;
  return gw && isLinkLocal6(gw) ? gw : FE80_1.slice();
}

/** Settings of the RAs beyond {@link PasstConfig}. */
export interface RaOptions {
  /**
   * The prefix information option: the guest's address masked to `prefixLen` bits, with the
   * A (autonomous) flag as given; L is always set. Default: the guest's /64 with A set.
   */
  readonly prefix?: { readonly prefixLen: number; readonly autonomous: boolean };
}

/**
 * The RA's content for `cfg`, or undefined without IPv6.
 *
 * @param cfg - the translator's configuration
 * @param opts - extra settings (prefix length, A flag)
 * @returns the ICMPv6 repr
 */
export function routerAdvert(
  cfg: PasstConfig,
  opts: RaOptions = {},
): NdpRouterAdvertRepr | undefined {
  const guest = cfg.v6 ? parseIpv6(cfg.v6.guestAddr) : undefined;
  if (!guest) return undefined;
  const prefixLen = Math.max(0, Math.min(128, opts.prefix?.prefixLen ?? 64));
  const prefix = guest.slice();
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefixLen - i * 8));
    prefix[i]! &= (0xff << (8 - bits)) & 0xff;
  }
  const options: NdpOption[] = [
    { type: 1, mac: cfg.ourMac },
    {
      type: 3,
      prefixLen,
      onLink: true,
      autonomous: opts.prefix?.autonomous ?? true,
      validLifetime: NDP_INFINITE,
      preferredLifetime: NDP_INFINITE,
      prefix,
    },
  ];
  if (cfg.mtu > 0) options.push({ type: 5, mtu: cfg.mtu });
  const dns = cfg.nameservers
    .filter((s) => s.includes(':'))
    .map((s) => parseIpv6(s))
    .filter((a): a is Uint8Array => a !== undefined);
  if (dns.length > 0) options.push({ type: 25, lifetime: NDP_INFINITE, addresses: dns });
  const search = cfg.search.filter((s) => s.length > 0 && s !== '.');
  if (search.length > 0) options.push({ type: 31, lifetime: NDP_INFINITE, domains: search });
  return {
    type: 134,
    curHopLimit: 255,
    managed: true,
    other: false,
    routerLifetime: RA_ROUTER_LIFETIME,
    reachableTime: 0,
    retransTimer: 0,
    options,
  };
}

/**
 * Builds an RA frame.
 *
 * @param cfg - the translator's configuration
 * @param to - the soliciting node (its address and MAC); omitted: all nodes, ff02::1
 * @param opts - extra settings (prefix length, A flag)
 * @returns the frame, or undefined without IPv6
 */
export function buildRouterAdvert(
  cfg: PasstConfig,
  to?: { readonly ip: Uint8Array; readonly mac: Mac },
  opts: RaOptions = {},
): Uint8Array | undefined {
  const ra = routerAdvert(cfg, opts);
  if (!ra) return undefined;
  const src = routerLinkLocal(cfg);
  const dst = to ? to.ip : ALL_NODES;
  const mac = to ? to.mac : multicastMac6(ALL_NODES);
  try {
    return buildIpv6Frame(
      cfg.ourMac,
      mac,
      { src, dst, nextHeader: IpProtocol.Icmpv6, hopLimit: 255 },
      icmpv6BufferLen(ra),
      (b) => emitIcmpv6(ra, b, src, dst),
    );
  } catch {
    // Search domains the DNSSL codec cannot encode: configuration, not guest input.
    return undefined;
  }
}

/**
 * Answers a Router Solicitation from the guest with an RA (RFC 4861 §6.2.6), unicast to the
 * soliciting address, or to ff02::1 when it came from the unspecified address.
 *
 * @param cfg - the translator's configuration; without `v6` nothing is answered
 * @param p - a guest frame, parsed (iface/packet.ts); read, never parsed again
 * @param c - counters, updated in place
 * @param opts - extra settings (prefix length, A flag)
 * @returns the RA frame, or undefined (the reason is counted)
 */
export function handleRouterSolicit(
  cfg: PasstConfig,
  p: GuestPacket,
  c: AddressServiceCounters,
  opts: RaOptions = {},
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
  opts: RaOptions,
): Uint8Array | undefined {
  if (!cfg.v6) {
    c.ignored++;
    return undefined;
  }
  if (!acceptPacket(p, 6, IpProtocol.Icmpv6, c) || !p.eth) return undefined;
  const l4 = failedAt(p, 'l4');
  if (l4) return drop(c, l4);
  const iv = p.icmp6;
  if (iv?.type !== 133) {
    c.ignored++;
    return undefined;
  }
  const msg = failedAt(p, 'msg');
  if (msg) return drop(c, msg);
  const rs = p.icmp6Msg;
  if (rs?.type !== 133) return drop(c, 'malformed');
  const src = p.src;
  // RFC 4861 §6.1.1: hop limit 255, code 0, and no SLLA from the unspecified address.
  const unspecified = src.every((b) => b === 0);
  if (p.hopLimit !== 255 || iv.buf[1] !== 0) return drop(c, 'malformed');
  if (unspecified && rs.options.some((o) => o.type === 1)) return drop(c, 'malformed');
  return buildRouterAdvert(
    cfg,
    unspecified ? undefined : { ip: src, mac: p.eth.src.slice() },
    opts,
  );
}

/**
 * Delay before the next unsolicited RA: uniformly random in [MinRtrAdvInterval,
 * MaxRtrAdvInterval] = [200 s, 600 s] (RFC 4861 §6.2.4). passt sends these so that guests keep
 * their default route (kubevirt#13191).
 *
 * @param rand - a random number in [0, 1) from the caller
 * @returns milliseconds, at most 600 000
 */
export function nextUnsolicitedRaMs(rand: number): number {
  const r = Number.isFinite(rand) ? Math.min(Math.max(rand, 0), 1) : 0;
  const span = MAX_RTR_ADV_INTERVAL_MS - MIN_RTR_ADV_INTERVAL_MS;
  return Math.min(MAX_RTR_ADV_INTERVAL_MS, MIN_RTR_ADV_INTERVAL_MS + Math.floor(r * span));
}

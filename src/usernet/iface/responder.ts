// The link-local answers bindery gives a guest by itself: ARP replies, NDP neighbour
// advertisements and ICMP/ICMPv6 echo replies for the gateway — pure, parsed frame in, frames out.
//
// This is the first piece of the translator's interface layer (architecture.md: link → wire →
// iface → flow). It never throws on guest bytes: anything it cannot parse is counted by reason
// and dropped. Rules follow passt (facts-passt §4): every ARP request is answered with our MAC
// except for the guest's own address (RFC 826; duplicate-address probes must stay unanswered,
// RFC 5227 §2.1.1), and neighbour solicitations likewise (RFC 4861 §7.2.4).
import { EtherType, isBroadcastMac } from '../../wire/ethernet.js';
import { ArpOp } from '../../wire/arp.js';
import { IpProtocol } from '../../wire/ipv4.js';
import { multicastMac6 } from '../../wire/ipv6.js';
import { emitIcmpv4, icmpv4BufferLen, type Icmpv4Repr } from '../../wire/icmpv4.js';
import { emitIcmpv6, icmpv6BufferLen, type Icmpv6Repr } from '../../wire/icmpv6.js';
import { buildArpFrame, buildIpv4Frame, buildIpv6Frame } from '../../wire/build.js';
import type { WireErrorKind, Mac } from '../../wire/common.js';
import { failedAt, type GuestPacket } from './packet.js';

/** What the responder answers for. */
export interface ResponderConfig {
  /** Our MAC as the guest sees it. */
  readonly ourMac: Mac;
  /** Gateway IPv4 address (echo requests to it are answered). */
  readonly gateway4?: Uint8Array;
  /** Gateway IPv6 addresses, e.g. fe80::1 and a global one (echo requests answered). */
  readonly gateways6: readonly Uint8Array[];
  /** The guest's own IPv4 address, if known: ARP for it is never answered. */
  readonly guest4?: Uint8Array;
}

/** Counters by outcome; drop reasons are WireError kinds plus policy reasons. */
export interface ResponderCounters {
  rxFrames: number;
  txFrames: number;
  arpReplies: number;
  neighborAdverts: number;
  echoReplies4: number;
  echoReplies6: number;
  /** Frames bindery does not answer (not for us, other protocols): passed on, not errors. */
  ignored: number;
  drops: Record<WireErrorKind, number>;
}

/** Fresh zeroed counters. */
export function newCounters(): ResponderCounters {
  return {
    rxFrames: 0,
    txFrames: 0,
    arpReplies: 0,
    neighborAdverts: 0,
    echoReplies4: 0,
    echoReplies6: 0,
    ignored: 0,
    drops: { truncated: 0, malformed: 0, 'bad-checksum': 0, unsupported: 0 },
  };
}

function eq(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (!b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Handles one frame from the guest and returns the frames to send back (possibly none).
 * Counters are updated in place.
 *
 * @param cfg - What to answer for.
 * @param p - The guest frame, parsed (iface/packet.ts); read, never parsed again.
 * @param c - Counters, updated in place.
 * @returns The reply frames.
 */
export function respond(cfg: ResponderConfig, p: GuestPacket, c: ResponderCounters): Uint8Array[] {
  c.rxFrames++;
  const out = answer(cfg, p, c);
  c.txFrames += out.length;
  return out;
}

function drop(c: ResponderCounters, kind: WireErrorKind): Uint8Array[] {
  c.drops[kind]++;
  return [];
}

function answer(cfg: ResponderConfig, p: GuestPacket, c: ResponderCounters): Uint8Array[] {
  const eth = p.eth;
  if (!eth) return drop(c, p.error ?? 'malformed');
  const guestMac = eth.src.slice();
  switch (p.ethertype) {
    case EtherType.Arp: {
      const arp = p.arp;
      if (!arp) return drop(c, failedAt(p, 'net') ?? 'malformed');
      if (arp.operation !== ArpOp.Request) return ignore(c);
      // Gratuitous ARP / probes (sender = target, or sender 0.0.0.0) and the guest's own address.
      if (eq(arp.targetIp, arp.senderIp) || eq(arp.targetIp, cfg.guest4)) return ignore(c);
      if (arp.senderIp.every((b) => b === 0)) return ignore(c);
      c.arpReplies++;
      return [
        buildArpFrame(cfg.ourMac, arp.senderMac, {
          operation: ArpOp.Reply,
          senderMac: cfg.ourMac,
          senderIp: arp.targetIp,
          targetMac: arp.senderMac,
          targetIp: arp.senderIp,
        }),
      ];
    }
    case EtherType.Ipv4: {
      const net = failedAt(p, 'net');
      if (net) return drop(c, net);
      if (p.protocol !== IpProtocol.Icmp || p.fragment || !eq(p.dst, cfg.gateway4))
        return ignore(c);
      const l4 = failedAt(p, 'l4');
      if (l4) return drop(c, l4);
      // Only echo requests are ours to answer; other ICMP is not an error, just not for us.
      if (p.icmp4?.type !== 8) return ignore(c);
      const msg = failedAt(p, 'msg');
      if (msg) return drop(c, msg);
      const icmp = p.icmp4Msg;
      if (icmp?.type !== 8) return ignore(c);
      const reply: Icmpv4Repr = { type: 0, ident: icmp.ident, seqNo: icmp.seqNo, data: icmp.data };
      c.echoReplies4++;
      return [
        buildIpv4Frame(
          cfg.ourMac,
          guestMac,
          { src: p.dst, dst: p.src, protocol: IpProtocol.Icmp },
          icmpv4BufferLen(reply),
          (b) => emitIcmpv4(reply, b),
        ),
      ];
    }
    case EtherType.Ipv6: {
      const net = failedAt(p, 'net');
      if (net) return drop(c, net);
      if (p.protocol !== IpProtocol.Icmpv6 || p.fragment) return ignore(c);
      const src = p.src;
      const dst = p.dst;
      const l4 = failedAt(p, 'l4');
      if (l4) return drop(c, l4);
      // Only NS and echo requests are ours to answer (MLD reports, RS etc. are not errors).
      const t = p.icmp6?.type;
      if (t !== 135 && t !== 128) return ignore(c);
      const msg = failedAt(p, 'msg');
      if (msg) return drop(c, msg);
      const icmp = p.icmp6Msg;
      if (icmp?.type === 135) return neighborAdvert(cfg, c, p.hopLimit, src, guestMac, icmp.target);
      if (icmp?.type === 128 && cfg.gateways6.some((g) => eq(dst, g))) {
        const reply: Icmpv6Repr = {
          type: 129,
          ident: icmp.ident,
          seqNo: icmp.seqNo,
          data: icmp.data,
        };
        c.echoReplies6++;
        return [
          buildIpv6Frame(
            cfg.ourMac,
            guestMac,
            { src: dst, dst: src, nextHeader: IpProtocol.Icmpv6 },
            icmpv6BufferLen(reply),
            (b) => emitIcmpv6(reply, b, dst, src),
          ),
        ];
      }
      return ignore(c);
    }
    default:
      return ignore(c);
  }
}

function ignore(c: ResponderCounters): Uint8Array[] {
  c.ignored++;
  return [];
}

function neighborAdvert(
  cfg: ResponderConfig,
  c: ResponderCounters,
  hopLimit: number,
  src: Uint8Array,
  guestMac: Uint8Array,
  target: Uint8Array,
): Uint8Array[] {
  // RFC 4861 §7.1.1: hop limit 255, and the unspecified source is duplicate address detection.
  if (hopLimit !== 255) return drop(c, 'malformed');
  if (src.every((b) => b === 0)) return ignore(c);
  if (eq(target, src)) return ignore(c);
  const na: Icmpv6Repr = {
    type: 136,
    router: true,
    solicited: true,
    override: true,
    target,
    options: [{ type: 2, mac: cfg.ourMac }],
  };
  c.neighborAdverts++;
  const ethDst = isBroadcastMac(guestMac) ? multicastMac6(src) : guestMac;
  const ourSrc = target;
  return [
    buildIpv6Frame(
      cfg.ourMac,
      ethDst,
      { src: ourSrc, dst: src, nextHeader: IpProtocol.Icmpv6, hopLimit: 255 },
      icmpv6BufferLen(na),
      (b) => emitIcmpv6(na, b, ourSrc, src),
    ),
  ];
}

// The translator's DHCPv6 server: one guest frame in, at most one reply frame out, as passt's dhcpv6.c does it.
//
// Pure: no clock, no sockets; never throws on guest bytes (whatever it cannot parse or does not
// serve is counted and answered with nothing). Behaviour (facts-passt §4, RFC 8415 §18.3):
// - SOLICIT → ADVERTISE, or REPLY with Rapid Commit when the client asked for it (§18.3.1).
// - REQUEST, RENEW, REBIND → REPLY with every IA_NA the client sent, holding the guest's address
//   with infinite lifetimes (§7.7); CONFIRM → REPLY with status Success, or NotOnLink when an
//   address is outside the guest's /64 (§18.3.3); INFORMATION-REQUEST → REPLY without IAs.
// - Every reply carries our Server ID (a DUID-LL from our MAC, §11.4), the client's Client ID
//   echoed, and DNS servers (23) and the domain search list (24) when configured (RFC 3646).
// - Messages must carry a Client ID; REQUEST/RENEW must name our Server ID, SOLICIT/CONFIRM/
//   REBIND must not carry one (§16). Replies go from fe80::1 (or a link-local gateway), port
//   547, to the client's source address, port 546.
// The pod-side address server reuses this with Dhcpv6ServerOptions (the on-link prefix length
// CONFIRM checks against, e.g. masquerade's /120).
import { IpProtocol } from '../../wire/ipv4.js';
import { emitUdp, udpBufferLen, UDP_HEADER_LEN } from '../../wire/udp.js';
import {
  Dhcpv6MessageType,
  Dhcpv6Status,
  Dhcpv6View,
  dhcpv6BufferLen,
  duidLl,
  emitDhcpv6,
  findAllDhcpv6Options,
  findDhcpv6Option,
  parseDhcpv6,
  type Duid,
  type Dhcpv6Option,
  type Dhcpv6Repr,
} from '../../wire/dhcpv6.js';
import { buildIpv6Frame } from '../../wire/build.js';
import { isWireError, parseIpv6, type WireErrorKind } from '../../wire/common.js';
import { acceptDatagram, type GuestPacket } from './packet.js';
import type { PasstConfig } from '../conf.js';
import type { AddressServiceCounters } from './dhcp-server.js';
import { routerLinkLocal } from './ra.js';

/** DHCPv6 server port (RFC 8415 §7.2). */
export const DHCPV6_SERVER_PORT = 547;
/** DHCPv6 client port (RFC 8415 §7.2). */
export const DHCPV6_CLIENT_PORT = 546;
/** Infinite lifetime / T1 / T2 (RFC 8415 §7.7). */
export const DHCPV6_INFINITE = 0xffffffff;

/**
 * Our DUID: a DUID-LL (RFC 8415 §11.4) of hardware type 1 (Ethernet) and our MAC. Stable for a
 * given MAC, which DUID-LLT (passt's choice) would not be without a clock.
 *
 * @param cfg - the translator's configuration
 * @returns the DUID
 */
export function serverDuid(cfg: PasstConfig): Duid {
  return duidLl(1, cfg.ourMac);
}

/** Settings of the DHCPv6 server beyond {@link PasstConfig}. */
export interface Dhcpv6ServerOptions {
  /** Length of the on-link prefix around the guest's address that CONFIRM checks; default 64. */
  readonly onLinkPrefixLen?: number;
}

/**
 * Answers one frame from the guest if it is a DHCPv6 message bindery serves.
 *
 * @param cfg - the translator's configuration; without `v6` nothing is answered
 * @param p - a guest frame, parsed (iface/packet.ts); read, never parsed again
 * @param c - counters, updated in place
 * @param opts - extra settings (on-link prefix length)
 * @returns the reply frame, or undefined (the reason is counted)
 */
export function handleDhcpv6(
  cfg: PasstConfig,
  p: GuestPacket,
  c: AddressServiceCounters,
  opts: Dhcpv6ServerOptions = {},
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

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether the first `bits` bits of two addresses are equal. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & m) !== (b[i]! & m)) return false;
  }
  return true;
}

function answer(
  cfg: PasstConfig,
  p: GuestPacket,
  c: AddressServiceCounters,
  opts: Dhcpv6ServerOptions,
): Uint8Array | undefined {
  const guest = cfg.v6 ? parseIpv6(cfg.v6.guestAddr) : undefined;
  if (!guest) {
    c.ignored++;
    return undefined;
  }
  if (!acceptDatagram(p, 6, DHCPV6_SERVER_PORT, c) || !p.eth) return undefined;
  const eth = p.eth;
  const clientIp = p.src;
  const dv = Dhcpv6View.checked(p.payload);
  if (isWireError(dv)) return drop(c, dv.kind);
  const req = parseDhcpv6(dv);
  if (isWireError(req)) return drop(c, req.kind);
  // A reply must go somewhere: the unspecified source cannot be answered (§7.1).
  if (clientIp.every((b) => b === 0)) return drop(c, 'malformed');

  const ours = serverDuid(cfg);
  const clientId = findDhcpv6Option(req.options, 1);
  const serverId = findDhcpv6Option(req.options, 2);
  const T = Dhcpv6MessageType;
  const needsServerId = req.msgType === T.Request || req.msgType === T.Renew;
  const forbidsServerId =
    req.msgType === T.Solicit || req.msgType === T.Confirm || req.msgType === T.Rebind;
  const known = needsServerId || forbidsServerId || req.msgType === T.InformationRequest;
  if (!known) {
    c.unhandled++;
    return undefined;
  }
  // RFC 8415 §16: discard messages missing a required identifier or carrying a wrong one.
  if (
    (req.msgType !== T.InformationRequest && !clientId) ||
    (needsServerId && !serverId) ||
    (forbidsServerId && serverId) ||
    (serverId && !eq(serverId.duid.raw, ours.raw))
  ) {
    c.unhandled++;
    return undefined;
  }

  const options: Dhcpv6Option[] = [{ code: 2, duid: ours }];
  if (clientId) options.push(clientId);
  let msgType: number = T.Reply;
  if (req.msgType === T.Solicit) {
    const rapid = req.options.some((o) => o.code === 14);
    if (rapid) options.push({ code: 14 });
    else msgType = T.Advertise;
  }
  if (req.msgType === T.Confirm) {
    const bits = Math.max(0, Math.min(128, opts.onLinkPrefixLen ?? 64));
    const addrs = findAllDhcpv6Options(req.options, 3).flatMap((ia) =>
      findAllDhcpv6Options(ia.options, 5),
    );
    const onLink = addrs.every((a) => samePrefix(a.address, guest, bits));
    options.push(
      onLink
        ? { code: 13, status: Dhcpv6Status.Success, message: 'all addresses on link' }
        : { code: 13, status: Dhcpv6Status.NotOnLink, message: 'not on link' },
    );
  } else if (req.msgType !== T.InformationRequest) {
    for (const ia of findAllDhcpv6Options(req.options, 3)) {
      options.push({
        code: 3,
        iaid: ia.iaid,
        t1S: DHCPV6_INFINITE,
        t2S: DHCPV6_INFINITE,
        options: [
          {
            code: 5,
            address: guest,
            preferredS: DHCPV6_INFINITE,
            validS: DHCPV6_INFINITE,
            options: [],
          },
        ],
      });
    }
  }
  const dns = cfg.nameservers
    .filter((s) => s.includes(':'))
    .map((s) => parseIpv6(s))
    .filter((a): a is Uint8Array => a !== undefined);
  if (dns.length > 0) options.push({ code: 23, servers: dns });
  const search = cfg.search.filter((s) => s.length > 0 && s !== '.');
  if (search.length > 0) options.push({ code: 24, domains: search });

  const reply: Dhcpv6Repr = { msgType, transactionId: req.transactionId, options };
  let payloadLen: number;
  try {
    payloadLen = dhcpv6BufferLen(reply);
  } catch {
    // Search domains the codec cannot encode: configuration, not guest input.
    return drop(c, 'unsupported');
  }
  const src = routerLinkLocal(cfg);
  if (msgType === T.Reply && options.some((o) => o.code === 3)) c.leases++;
  const udpRepr = { srcPort: DHCPV6_SERVER_PORT, dstPort: DHCPV6_CLIENT_PORT, payloadLen };
  return buildIpv6Frame(
    cfg.ourMac,
    eth.src.slice(),
    { src, dst: clientIp, nextHeader: IpProtocol.Udp },
    udpBufferLen(udpRepr),
    (l4) => {
      emitDhcpv6(reply, l4.subarray(UDP_HEADER_LEN));
      emitUdp(udpRepr, l4, src, clientIp);
    },
  );
}

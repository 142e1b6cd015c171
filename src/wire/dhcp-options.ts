// DHCPv4 options (RFC 2132, 3396, 3397, 3442, 4039, 4702): the code table, decoding option
// areas into a DhcpRepr's typed fields, and the option data emit writes.
//
// The rules (concatenation and splitting per RFC 3396, which lengths are 'malformed', what stays
// raw) are listed in dhcp.ts, which walks the message and calls these.
import {
  type WireError,
  wireError,
  isWireError,
  getU16,
  getU32,
  putU16,
  putU32,
  type Ipv4Addr,
} from './common.js';
import { decodeNameList, decodePartialName, encodeNameList, encodePartialName } from './dnsname.js';
import type { DhcpRepr } from './dhcp.js';

/** Option codes this codec knows (RFC 2132 and the RFCs named beside each). */
export const DhcpOptionCode = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DnsServer: 6,
  HostName: 12,
  DomainName: 15,
  InterfaceMtu: 26,
  BroadcastAddr: 28,
  RequestedAddr: 50,
  LeaseTime: 51,
  /** RFC 2132 §9.3; read on parse, never emitted. */
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterRequestList: 55,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  /** RFC 4039 */
  RapidCommit: 80,
  /** RFC 4702 */
  ClientFqdn: 81,
  /** RFC 3397 */
  DomainSearch: 119,
  /** RFC 3442 */
  ClasslessStaticRoute: 121,
  End: 255,
} as const;

/** Flag bits of the Client FQDN option (RFC 4702 §2.1). */
export const DhcpFqdnFlag = {
  /** S: the server should perform the A RR update. */
  S: 0x01,
  /** O: the server overrode the client's S preference. */
  O: 0x02,
  /** E: the name is in canonical wire format (else deprecated ASCII). */
  E: 0x04,
  /** N: the server should perform no DNS updates. */
  N: 0x08,
} as const;

/** Longest data one option instance carries (RFC 3396 §5). */
export const MAX_OPTION_DATA = 255;

/** A Client FQDN option (RFC 4702 §2). */
export interface DhcpClientFqdn {
  /** The flags octet as sent, {@link DhcpFqdnFlag} bits plus any MBZ bits. */
  readonly flags: number;
  /** RCODE1 and RCODE2: deprecated, 0 from clients and 255 from servers (RFC 4702 §2.2). */
  readonly rcode1: number;
  readonly rcode2: number;
  /**
   * The name. With the E flag it was in canonical wire format (RFC 4702 §2.3.1): a fully
   * qualified name ends with '.', a partial one does not ("" is an empty partial name). Without
   * E it is the deprecated ASCII form, as sent.
   */
  readonly name: string;
}

/** One RFC 3442 classless static route. */
export interface DhcpClasslessRoute {
  /** Destination network; octets past the significant ones read as zero. */
  readonly prefix: Ipv4Addr;
  /** Destination prefix length, 0-32 (0 is a default route). */
  readonly prefixLen: number;
  readonly router: Ipv4Addr;
}

/** An option this codec has no field for, kept as sent (instances concatenated). */
export interface DhcpRawOption {
  readonly code: number;
  readonly data: Uint8Array;
}

/** Typed codes in the order emit writes them by default (53 first, as clients expect). */
const DEFAULT_ORDER: readonly number[] = [
  53, 54, 51, 58, 59, 1, 28, 3, 6, 12, 15, 26, 50, 55, 57, 60, 61, 80, 81, 119, 121,
];
export const TYPED = new Set<number>([...DEFAULT_ORDER, DhcpOptionCode.Overload]);

/** Mutable form of the repr while parsing. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const utf8 = new TextEncoder();

const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * Walks one option area (RFC 2132 §2: code, length, data; Pad and End have no length) and
 * appends every instance to `acc`, concatenating instances of the same code (RFC 3396 §7).
 * Stops at End or at the end of the area.
 */
export function collectOptions(
  area: Uint8Array,
  acc: Map<number, Uint8Array[]>,
): WireError | undefined {
  let off = 0;
  while (off < area.length) {
    const code = area[off]!;
    if (code === DhcpOptionCode.Pad) {
      off++;
      continue;
    }
    if (code === DhcpOptionCode.End) return undefined;
    if (off + 2 > area.length) return wireError('truncated');
    const len = area[off + 1]!;
    if (off + 2 + len > area.length) return wireError('truncated');
    const parts = acc.get(code);
    const data = area.subarray(off + 2, off + 2 + len);
    if (parts) parts.push(data);
    else acc.set(code, [data]);
    off += 2 + len;
  }
  return undefined;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!.slice();
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function addrList(d: Uint8Array): Ipv4Addr[] | undefined {
  if (d.length % 4 !== 0) return undefined;
  const out: Ipv4Addr[] = [];
  for (let i = 0; i < d.length; i += 4) out.push(d.slice(i, i + 4));
  return out;
}

function decodeRoutes(d: Uint8Array): DhcpClasslessRoute[] | undefined {
  const out: DhcpClasslessRoute[] = [];
  let off = 0;
  while (off < d.length) {
    const width = d[off]!;
    if (width > 32) return undefined;
    const sig = (width + 7) >>> 3;
    if (off + 1 + sig + 4 > d.length) return undefined;
    const prefix = new Uint8Array(4);
    prefix.set(d.subarray(off + 1, off + 1 + sig));
    out.push({ prefix, prefixLen: width, router: d.slice(off + 1 + sig, off + 5 + sig) });
    off += 5 + sig;
  }
  return out;
}

/** Decodes one known option into `r`; false when its length or content is wrong. */
export function decodeTyped(r: Mutable<DhcpRepr>, code: number, d: Uint8Array): boolean {
  const C = DhcpOptionCode;
  switch (code) {
    case C.MessageType:
      if (d.length !== 1) return false;
      r.messageType = d[0]!;
      return true;
    case C.SubnetMask:
    case C.BroadcastAddr:
    case C.RequestedAddr:
    case C.ServerId: {
      if (d.length !== 4) return false;
      const a = d.slice();
      if (code === C.SubnetMask) r.subnetMask = a;
      else if (code === C.BroadcastAddr) r.broadcastAddr = a;
      else if (code === C.RequestedAddr) r.requestedAddr = a;
      else r.serverId = a;
      return true;
    }
    case C.Router:
    case C.DnsServer: {
      const l = addrList(d);
      if (!l) return false;
      if (code === C.Router) r.routers = l;
      else r.dnsServers = l;
      return true;
    }
    case C.HostName:
      r.hostName = utf8Decoder.decode(d);
      return true;
    case C.DomainName:
      r.domainName = utf8Decoder.decode(d);
      return true;
    case C.InterfaceMtu:
    case C.MaxMessageSize:
      if (d.length !== 2) return false;
      if (code === C.InterfaceMtu) r.interfaceMtu = getU16(d, 0);
      else r.maxMessageSize = getU16(d, 0);
      return true;
    case C.LeaseTime:
    case C.RenewalTime:
    case C.RebindingTime:
      if (d.length !== 4) return false;
      if (code === C.LeaseTime) r.leaseTimeS = getU32(d, 0);
      else if (code === C.RenewalTime) r.renewalTimeS = getU32(d, 0);
      else r.rebindingTimeS = getU32(d, 0);
      return true;
    case C.ParameterRequestList:
      r.parameterRequestList = Array.from(d);
      return true;
    case C.VendorClass:
      r.vendorClass = d.slice();
      return true;
    case C.ClientId:
      r.clientId = d.slice();
      return true;
    case C.RapidCommit:
      // RFC 4039 §4 gives length 0; busybox udhcpc `-x 0x50:00` sends one octet. Presence is
      // what counts, so any data is accepted (and not kept).
      r.rapidCommit = true;
      return true;
    case C.ClientFqdn: {
      if (d.length < 3) return false;
      const flags = d[0]!;
      const body = d.subarray(3);
      const name = flags & DhcpFqdnFlag.E ? decodePartialName(body) : utf8Decoder.decode(body);
      if (isWireError(name)) return false;
      r.clientFqdn = { flags, rcode1: d[1]!, rcode2: d[2]!, name };
      return true;
    }
    case C.DomainSearch: {
      // RFC 3397 §2: pointers count from the start of the concatenated option data.
      const names = decodeNameList(d);
      if (isWireError(names)) return false;
      r.domainSearch = names;
      return true;
    }
    case C.ClasslessStaticRoute: {
      const routes = decodeRoutes(d);
      if (!routes) return false;
      r.classlessRoutes = routes;
      return true;
    }
    default:
      return false;
  }
}

function u8(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff);
}
function u16(v: number): Uint8Array {
  const b = new Uint8Array(2);
  putU16(b, 0, v);
  return b;
}
function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  putU32(b, 0, v);
  return b;
}
function addr(a: Uint8Array): Uint8Array {
  const b = new Uint8Array(4);
  b.set(a.subarray(0, 4));
  return b;
}
function addrs(l: readonly Uint8Array[]): Uint8Array {
  const b = new Uint8Array(l.length * 4);
  l.forEach((a, i) => b.set(a.subarray(0, 4), i * 4));
  return b;
}
function routes(l: readonly DhcpClasslessRoute[]): Uint8Array {
  const out: number[] = [];
  for (const rt of l) {
    const width = Math.max(0, Math.min(32, rt.prefixLen | 0));
    out.push(width);
    for (let i = 0; i < (width + 7) >>> 3; i++) out.push(rt.prefix[i] ?? 0);
    for (let i = 0; i < 4; i++) out.push(rt.router[i] ?? 0);
  }
  return Uint8Array.from(out);
}

/** The data of every option `repr` carries, keyed by code, in emit order. */
export function optionData(repr: DhcpRepr): Array<[number, Uint8Array]> {
  const C = DhcpOptionCode;
  const typed = new Map<number, Uint8Array>();
  const put = (code: number, v: Uint8Array | undefined) => {
    if (v) typed.set(code, v);
  };
  if (repr.messageType !== undefined) put(C.MessageType, u8(repr.messageType));
  if (repr.serverId) put(C.ServerId, addr(repr.serverId));
  if (repr.leaseTimeS !== undefined) put(C.LeaseTime, u32(repr.leaseTimeS));
  if (repr.renewalTimeS !== undefined) put(C.RenewalTime, u32(repr.renewalTimeS));
  if (repr.rebindingTimeS !== undefined) put(C.RebindingTime, u32(repr.rebindingTimeS));
  if (repr.subnetMask) put(C.SubnetMask, addr(repr.subnetMask));
  if (repr.broadcastAddr) put(C.BroadcastAddr, addr(repr.broadcastAddr));
  if (repr.routers) put(C.Router, addrs(repr.routers));
  if (repr.dnsServers) put(C.DnsServer, addrs(repr.dnsServers));
  if (repr.hostName !== undefined) put(C.HostName, utf8.encode(repr.hostName));
  if (repr.domainName !== undefined) put(C.DomainName, utf8.encode(repr.domainName));
  if (repr.interfaceMtu !== undefined) put(C.InterfaceMtu, u16(repr.interfaceMtu));
  if (repr.requestedAddr) put(C.RequestedAddr, addr(repr.requestedAddr));
  if (repr.parameterRequestList)
    put(
      C.ParameterRequestList,
      Uint8Array.from(repr.parameterRequestList, (c) => c & 0xff),
    );
  if (repr.maxMessageSize !== undefined) put(C.MaxMessageSize, u16(repr.maxMessageSize));
  if (repr.vendorClass) put(C.VendorClass, repr.vendorClass);
  if (repr.clientId) put(C.ClientId, repr.clientId);
  if (repr.rapidCommit) put(C.RapidCommit, new Uint8Array(0));
  if (repr.clientFqdn) {
    const f = repr.clientFqdn;
    const name =
      f.flags & DhcpFqdnFlag.E
        ? (encodePartialName(f.name) ?? new Uint8Array(0))
        : utf8.encode(f.name);
    const d = new Uint8Array(3 + name.length);
    d[0] = f.flags & 0xff;
    d[1] = f.rcode1 & 0xff;
    d[2] = f.rcode2 & 0xff;
    d.set(name, 3);
    put(C.ClientFqdn, d);
  }
  // RFC 3397 §2: the list may be compressed, pointers relative to the option data.
  if (repr.domainSearch) put(C.DomainSearch, encodeNameList(repr.domainSearch, true));
  if (repr.classlessRoutes) put(C.ClasslessStaticRoute, routes(repr.classlessRoutes));

  const all: Array<[number, Uint8Array]> = [];
  for (const code of DEFAULT_ORDER) {
    const d = typed.get(code);
    if (d) all.push([code, d]);
  }
  const seen = new Set<number>();
  for (const o of repr.options) {
    const c = o.code;
    if (!Number.isInteger(c) || c <= C.Pad || c >= C.End || TYPED.has(c) || seen.has(c)) continue;
    seen.add(c);
    all.push([c, o.data]);
  }
  const order = repr.optionOrder;
  if (order && order.length > 0) {
    const rank = new Map<number, number>();
    order.forEach((c, i) => {
      if (!rank.has(c)) rank.set(c, i);
    });
    const r = (c: number) => rank.get(c) ?? Infinity;
    // Array.prototype.sort is stable: unranked options keep the default order.
    all.sort((a, b) => (r(a[0]) === r(b[0]) ? 0 : r(a[0]) < r(b[0]) ? -1 : 1));
  }
  return all;
}

/** Bytes one option takes once split into 255-octet instances (RFC 3396 §5). */
export function encodedLen(dataLen: number): number {
  const instances = Math.max(1, Math.ceil(dataLen / MAX_OPTION_DATA));
  return instances * 2 + dataLen;
}

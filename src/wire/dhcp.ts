// DHCPv4 messages (RFC 2131 §2) and their options (RFC 2132, 3396, 3397, 3442, 4039, 4702).
//
// Theory of operation
//
// `DhcpView` reads the fixed BOOTP header in place; `parseDhcp` turns a whole UDP payload into a
// plain `DhcpRepr`, and `emitDhcp` writes a repr into a buffer of exactly `dhcpBufferLen(repr)`
// bytes. The options bindery serves or reads (those passt's dhcp.c uses, plus what clients send
// to ask for them) have typed fields; every other option is kept raw in `options`, in order.
//
// Rules applied:
// - A message without the magic cookie 99.130.83.99 is BOOTP (RFC 951 / RFC 1542): the 64-byte
//   vendor area is kept raw in `vendorArea` and no options are decoded or emitted.
// - Options split into several instances are concatenated before decoding, and options longer
//   than 255 octets are split on emit (RFC 3396 §5, §7).
// - Option Overload (52) is honoured on parse: `file`, then `sname`, are read as further option
//   areas (RFC 2131 §4.1, RFC 2132 §9.3) and reported empty. Emit never overloads: bindery's
//   replies fit in the options field, so 52 is never written.
// - A known option whose length or content is wrong makes the message 'malformed'; an option
//   running past the end is 'truncated'. Unknown options are never judged.
// - Emitted messages are padded with zeros after the End option to the 300-octet BOOTP minimum
//   (RFC 951's 64-octet vendor area; RFC 1542 §3.4: clients may drop shorter replies).
// - Strings (host name, domain name, ASCII FQDN) are UTF-8. Names in 81 (E flag), 119 use DNS
//   wire format via dnsname.ts.
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

/** BOOTP op codes (RFC 2131 §2). */
export const DhcpOp = {
  BootRequest: 1,
  BootReply: 2,
} as const;

/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const DhcpMessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;

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

/** Value of the broadcast bit in `flags` (RFC 2131 §2, Figure 2). */
export const DHCP_FLAG_BROADCAST = 0x8000;
/** The magic cookie 99.130.83.99 (RFC 2131 §3). */
export const DHCP_MAGIC_COOKIE = 0x63825363;
/** The fixed BOOTP header, up to and excluding the cookie/vendor area. */
export const DHCP_FIXED_LEN = 236;
/** Offset of the first option, after the cookie. */
export const DHCP_OPTIONS_OFFSET = 240;
/** Every message bindery emits is at least this long (RFC 951 header + 64-octet vendor area). */
export const BOOTP_MIN_LEN = 300;
/** Longest data one option instance carries (RFC 3396 §5). */
const MAX_OPTION_DATA = 255;

/** Named offsets of the fixed header (RFC 2131 §2, Figure 1). */
export const DhcpField = {
  OP: 0,
  HTYPE: 1,
  HLEN: 2,
  HOPS: 3,
  XID: 4,
  SECS: 8,
  FLAGS: 10,
  CIADDR: 12,
  YIADDR: 16,
  SIADDR: 20,
  GIADDR: 24,
  CHADDR: 28,
  SNAME: 44,
  FILE: 108,
  COOKIE: 236,
} as const;
const CHADDR_LEN = 16;
const SNAME_LEN = 64;
const FILE_LEN = 128;

/**
 * A zero-copy view of a DHCP/BOOTP message (the UDP payload). After {@link DhcpView.checked}
 * succeeds, every accessor stays inside the buffer.
 */
export class DhcpView {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks that the fixed header is present.
   *
   * @param buf - the UDP payload
   * @returns the view, or 'truncated' when shorter than the 236-octet fixed header
   */
  static checked(buf: Uint8Array): DhcpView | WireError {
    if (buf.length < DHCP_FIXED_LEN) return wireError('truncated');
    return new DhcpView(plain(buf));
  }
  /** Wraps `buf` without checks, for emitting into a buffer of the right size. */
  static unchecked(buf: Uint8Array): DhcpView {
    return new DhcpView(buf);
  }
  get op(): number {
    return this.buf[DhcpField.OP]!;
  }
  get htype(): number {
    return this.buf[DhcpField.HTYPE]!;
  }
  get hlen(): number {
    return this.buf[DhcpField.HLEN]!;
  }
  get hops(): number {
    return this.buf[DhcpField.HOPS]!;
  }
  get xid(): number {
    return getU32(this.buf, DhcpField.XID);
  }
  get secs(): number {
    return getU16(this.buf, DhcpField.SECS);
  }
  get flags(): number {
    return getU16(this.buf, DhcpField.FLAGS);
  }
  get broadcast(): boolean {
    return (this.flags & DHCP_FLAG_BROADCAST) !== 0;
  }
  get ciaddr(): Ipv4Addr {
    return this.buf.subarray(DhcpField.CIADDR, DhcpField.CIADDR + 4);
  }
  get yiaddr(): Ipv4Addr {
    return this.buf.subarray(DhcpField.YIADDR, DhcpField.YIADDR + 4);
  }
  get siaddr(): Ipv4Addr {
    return this.buf.subarray(DhcpField.SIADDR, DhcpField.SIADDR + 4);
  }
  get giaddr(): Ipv4Addr {
    return this.buf.subarray(DhcpField.GIADDR, DhcpField.GIADDR + 4);
  }
  /** All 16 octets of chaddr. */
  get chaddr(): Uint8Array {
    return this.buf.subarray(DhcpField.CHADDR, DhcpField.CHADDR + CHADDR_LEN);
  }
  /** The client hardware address: the first `hlen` octets of chaddr (at most 16). */
  get clientHwAddr(): Uint8Array {
    return this.buf.subarray(DhcpField.CHADDR, DhcpField.CHADDR + Math.min(this.hlen, CHADDR_LEN));
  }
  get sname(): Uint8Array {
    return this.buf.subarray(DhcpField.SNAME, DhcpField.SNAME + SNAME_LEN);
  }
  get file(): Uint8Array {
    return this.buf.subarray(DhcpField.FILE, DhcpField.FILE + FILE_LEN);
  }
  /** True when the magic cookie follows the fixed header (a DHCP message, not plain BOOTP). */
  get hasCookie(): boolean {
    return (
      this.buf.length >= DHCP_OPTIONS_OFFSET &&
      getU32(this.buf, DhcpField.COOKIE) === DHCP_MAGIC_COOKIE
    );
  }
  /** The options area after the cookie (empty without a cookie). */
  options(): Uint8Array {
    return this.hasCookie ? this.buf.subarray(DHCP_OPTIONS_OFFSET) : this.buf.subarray(0, 0);
  }
  /** The BOOTP vendor area: everything after the fixed header. */
  vendorArea(): Uint8Array {
    return this.buf.subarray(DHCP_FIXED_LEN);
  }
}

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

/** A parsed DHCP or BOOTP message. */
export interface DhcpRepr {
  readonly op: number;
  /** Hardware type (1 = Ethernet). */
  readonly htype: number;
  readonly hlen: number;
  readonly hops: number;
  readonly xid: number;
  readonly secs: number;
  /** The broadcast flag (RFC 2131 §4.1); the other flag bits are MBZ and ignored. */
  readonly broadcast: boolean;
  readonly ciaddr: Ipv4Addr;
  readonly yiaddr: Ipv4Addr;
  readonly siaddr: Ipv4Addr;
  readonly giaddr: Ipv4Addr;
  /** The 16-octet chaddr field; the client's MAC is the first `hlen` octets. */
  readonly chaddr: Uint8Array;
  /** Server host name field, trailing zeros trimmed (at most 64 octets are emitted). */
  readonly sname: Uint8Array;
  /** Boot file name field, trailing zeros trimmed (at most 128 octets are emitted). */
  readonly file: Uint8Array;
  /** Present only for plain BOOTP (no magic cookie): the vendor area, trailing zeros trimmed. */
  readonly vendorArea?: Uint8Array;

  /** 53 */
  readonly messageType?: number;
  /** 1 */
  readonly subnetMask?: Ipv4Addr;
  /** 3 */
  readonly routers?: readonly Ipv4Addr[];
  /** 6 */
  readonly dnsServers?: readonly Ipv4Addr[];
  /** 12 */
  readonly hostName?: string;
  /** 15 */
  readonly domainName?: string;
  /** 26 */
  readonly interfaceMtu?: number;
  /** 28 */
  readonly broadcastAddr?: Ipv4Addr;
  /** 50 */
  readonly requestedAddr?: Ipv4Addr;
  /** 51, seconds; 0xffffffff is infinite. */
  readonly leaseTimeS?: number;
  /** 54 */
  readonly serverId?: Ipv4Addr;
  /** 55 */
  readonly parameterRequestList?: readonly number[];
  /** 57 */
  readonly maxMessageSize?: number;
  /** 58, seconds */
  readonly renewalTimeS?: number;
  /** 59, seconds */
  readonly rebindingTimeS?: number;
  /** 60 */
  readonly vendorClass?: Uint8Array;
  /** 61: type octet and identifier, as sent. */
  readonly clientId?: Uint8Array;
  /** 80 (RFC 4039) */
  readonly rapidCommit?: boolean;
  /** 81 (RFC 4702) */
  readonly clientFqdn?: DhcpClientFqdn;
  /** 119 (RFC 3397) */
  readonly domainSearch?: readonly string[];
  /** 121 (RFC 3442) */
  readonly classlessRoutes?: readonly DhcpClasslessRoute[];
  /** Every other option, in order of first appearance. Pad, End and typed codes are not emitted from here. */
  readonly options: readonly DhcpRawOption[];
  /**
   * Option codes in the order they were received (parse fills it). Emit writes the options
   * listed here in this order, then the others in the default order; it lets a parsed message be
   * re-emitted byte for byte.
   */
  readonly optionOrder?: readonly number[];
}

/** Typed codes in the order emit writes them by default (53 first, as clients expect). */
const DEFAULT_ORDER: readonly number[] = [
  53, 54, 51, 58, 59, 1, 28, 3, 6, 12, 15, 26, 50, 55, 57, 60, 61, 80, 81, 119, 121,
];
const TYPED = new Set<number>([...DEFAULT_ORDER, DhcpOptionCode.Overload]);

/** Mutable form of the repr while parsing. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const utf8 = new TextEncoder();

/**
 * `buf` as a plain Uint8Array view: a Node Buffer's slice() does not copy, and reprs must own
 * their bytes.
 */
function plain(buf: Uint8Array): Uint8Array {
  return buf.constructor === Uint8Array
    ? buf
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

function trimZeros(b: Uint8Array): Uint8Array {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.slice(0, end);
}

/**
 * Walks one option area (RFC 2132 §2: code, length, data; Pad and End have no length) and
 * appends every instance to `acc`, concatenating instances of the same code (RFC 3396 §7).
 * Stops at End or at the end of the area.
 */
function collectOptions(area: Uint8Array, acc: Map<number, Uint8Array[]>): WireError | undefined {
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

function concat(parts: readonly Uint8Array[]): Uint8Array {
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
function decodeTyped(r: Mutable<DhcpRepr>, code: number, d: Uint8Array): boolean {
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

/**
 * Parses a DHCP or BOOTP message.
 *
 * @param input - the UDP payload, or a view from {@link DhcpView.checked}
 * @returns the repr; 'truncated' when the fixed header or an option runs past the end,
 *   'malformed' when a known option's length or content is wrong
 */
export function parseDhcp(input: Uint8Array | DhcpView): DhcpRepr | WireError {
  const view = input instanceof DhcpView ? input : DhcpView.checked(input);
  if (isWireError(view)) return view;
  const r: Mutable<DhcpRepr> = {
    op: view.op,
    htype: view.htype,
    hlen: view.hlen,
    hops: view.hops,
    xid: view.xid,
    secs: view.secs,
    broadcast: view.broadcast,
    ciaddr: view.ciaddr.slice(),
    yiaddr: view.yiaddr.slice(),
    siaddr: view.siaddr.slice(),
    giaddr: view.giaddr.slice(),
    chaddr: view.chaddr.slice(),
    sname: trimZeros(view.sname),
    file: trimZeros(view.file),
    options: [],
  };
  if (!view.hasCookie) {
    r.vendorArea = trimZeros(view.vendorArea());
    return r;
  }
  const acc = new Map<number, Uint8Array[]>();
  const err = collectOptions(view.options(), acc);
  if (err) return err;
  // RFC 2131 §4.1: with option 52, 'file' then 'sname' hold more options.
  const overload = acc.get(DhcpOptionCode.Overload);
  if (overload) {
    const v = concat(overload);
    if (v.length !== 1 || v[0]! < 1 || v[0]! > 3) return wireError('malformed');
    if (v[0]! & 1) {
      const e = collectOptions(view.file, acc);
      if (e) return e;
      r.file = new Uint8Array(0);
    }
    if (v[0]! & 2) {
      const e = collectOptions(view.sname, acc);
      if (e) return e;
      r.sname = new Uint8Array(0);
    }
    acc.delete(DhcpOptionCode.Overload);
  }
  const raw: DhcpRawOption[] = [];
  for (const [code, parts] of acc) {
    const data = concat(parts);
    if (TYPED.has(code)) {
      if (!decodeTyped(r, code, data)) return wireError('malformed');
    } else raw.push({ code, data });
  }
  r.options = raw;
  r.optionOrder = [...acc.keys()];
  return r;
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
function optionData(repr: DhcpRepr): Array<[number, Uint8Array]> {
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
function encodedLen(dataLen: number): number {
  const instances = Math.max(1, Math.ceil(dataLen / MAX_OPTION_DATA));
  return instances * 2 + dataLen;
}

/**
 * The exact length of the message `repr` emits: the fixed header, cookie, options and End,
 * padded to 300 octets.
 *
 * @param repr - the message
 * @returns the buffer length {@link emitDhcp} needs
 */
export function dhcpBufferLen(repr: DhcpRepr): number {
  if (repr.vendorArea) return Math.max(BOOTP_MIN_LEN, DHCP_FIXED_LEN + repr.vendorArea.length);
  let len = DHCP_OPTIONS_OFFSET + 1;
  for (const [, d] of optionData(repr)) len += encodedLen(d.length);
  return Math.max(BOOTP_MIN_LEN, len);
}

function putAddr(buf: Uint8Array, off: number, a: Uint8Array): void {
  for (let i = 0; i < 4; i++) buf[off + i] = a[i] ?? 0;
}
function putField(buf: Uint8Array, off: number, len: number, v: Uint8Array): void {
  const n = Math.min(len, v.length);
  buf.set(v.subarray(0, n), off);
  buf.fill(0, off + n, off + len);
}

/**
 * Writes `repr` into `buf`, which must be exactly {@link dhcpBufferLen} bytes; every byte is
 * written. Never throws for such a buffer.
 *
 * @param repr - the message
 * @param buf - the UDP payload to fill
 * @returns the number of bytes written (`buf.length`)
 */
export function emitDhcp(repr: DhcpRepr, buf: Uint8Array): number {
  buf[DhcpField.OP] = repr.op;
  buf[DhcpField.HTYPE] = repr.htype;
  buf[DhcpField.HLEN] = repr.hlen;
  buf[DhcpField.HOPS] = repr.hops;
  putU32(buf, DhcpField.XID, repr.xid);
  putU16(buf, DhcpField.SECS, repr.secs);
  putU16(buf, DhcpField.FLAGS, repr.broadcast ? DHCP_FLAG_BROADCAST : 0);
  putAddr(buf, DhcpField.CIADDR, repr.ciaddr);
  putAddr(buf, DhcpField.YIADDR, repr.yiaddr);
  putAddr(buf, DhcpField.SIADDR, repr.siaddr);
  putAddr(buf, DhcpField.GIADDR, repr.giaddr);
  putField(buf, DhcpField.CHADDR, CHADDR_LEN, repr.chaddr);
  putField(buf, DhcpField.SNAME, SNAME_LEN, repr.sname);
  putField(buf, DhcpField.FILE, FILE_LEN, repr.file);
  if (repr.vendorArea) {
    putField(buf, DHCP_FIXED_LEN, buf.length - DHCP_FIXED_LEN, repr.vendorArea);
    return buf.length;
  }
  putU32(buf, DhcpField.COOKIE, DHCP_MAGIC_COOKIE);
  let off = DHCP_OPTIONS_OFFSET;
  for (const [code, d] of optionData(repr)) {
    let pos = 0;
    do {
      const n = Math.min(MAX_OPTION_DATA, d.length - pos);
      buf[off] = code;
      buf[off + 1] = n;
      buf.set(d.subarray(pos, pos + n), off + 2);
      off += 2 + n;
      pos += n;
    } while (pos < d.length);
  }
  buf[off++] = DhcpOptionCode.End;
  buf.fill(0, off);
  return buf.length;
}

// DHCPv4 messages (RFC 2131 §2) and their options (RFC 2132, 3396, 3397, 3442, 4039, 4702).
//
// Theory of operation
//
// `DhcpView` reads the fixed BOOTP header in place; `parseDhcp` turns a whole UDP payload into a
// plain `DhcpRepr`, and `emitDhcp` writes a repr into a buffer of exactly `dhcpBufferLen(repr)`
// bytes. The options bindery serves or reads (those passt's dhcp.c uses, plus what clients send
// to ask for them) have typed fields; every other option is kept raw in `options`, in order.
// The option code table and the per-option decode and encode are in dhcp-options.ts.
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
import {
  DhcpOptionCode,
  MAX_OPTION_DATA,
  TYPED,
  collectOptions,
  concat,
  decodeTyped,
  encodedLen,
  optionData,
  type DhcpClasslessRoute,
  type DhcpClientFqdn,
  type DhcpRawOption,
  type Mutable,
} from './dhcp-options.js';

export { DhcpOptionCode, DhcpFqdnFlag } from './dhcp-options.js';
export type { DhcpClientFqdn, DhcpClasslessRoute, DhcpRawOption } from './dhcp-options.js';

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

/**
 * `buf` as a plain Uint8Array view: a Node Buffer's slice() does not copy, and reprs must own
 * their bytes.
 */
function plain(buf: Uint8Array): Uint8Array {
  return buf.constructor === Uint8Array
    ? buf
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
function trimZeros(b: Uint8Array): Uint8Array {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--;
  return b.slice(0, end);
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

// DHCPv6 client/server messages (RFC 8415 §8) and their options (§21, RFC 3646, RFC 4704).
//
// Theory of operation
//
// A message is a type, a 24-bit transaction id and a list of options (RFC 8415 §8); options are
// code, length, data (§21.1), and IA_NA and IAADDR carry further options inside. `parseDhcpv6`
// turns a UDP payload into a `Dhcpv6Repr` whose `options` keep the sender's order and repeats
// (several IA_NA are legal), so a parsed message re-emits byte for byte. Known options become
// typed objects; the rest stay raw ({code, data}). Nested lists are parsed recursively, at most
// {@link DHCPV6_MAX_DEPTH} levels deep.
//
// Limits and choices:
// - Relay-forward/relay-reply (12/13, §9) have another header and are 'unsupported'.
// - A known option with a wrong length or content makes the message 'malformed'; an option
//   running past its enclosing list is 'truncated'.
// - A DUID (§11) is kept as its raw bytes, which are what emit writes; the LLT/EN/LL/UUID fields
//   are decoded beside them when the bytes have that shape.
// - Domain names (options 24 and 39) use DNS wire format via dnsname.ts, uncompressed on emit
//   (§10: "MUST NOT be stored in compressed form").
import {
  type WireError,
  wireError,
  isWireError,
  getU16,
  getU32,
  putU16,
  putU32,
  type Ipv6Addr,
} from './common.js';
import { decodeNameList, decodePartialName, encodeNameList, encodePartialName } from './dnsname.js';

/** DHCPv6 message types (RFC 8415 §7.3). */
export const Dhcpv6MessageType = {
  Solicit: 1,
  Advertise: 2,
  Request: 3,
  Confirm: 4,
  Renew: 5,
  Rebind: 6,
  Reply: 7,
  Release: 8,
  Decline: 9,
  Reconfigure: 10,
  InformationRequest: 11,
  /** Relay messages (§9) are not supported by this codec. */
  RelayForw: 12,
  RelayRepl: 13,
} as const;

/** Option codes this codec knows (RFC 8415 §21, RFC 3646 §3-4, RFC 4704 §4). */
export const Dhcpv6OptionCode = {
  ClientId: 1,
  ServerId: 2,
  IaNa: 3,
  IaAddr: 5,
  Oro: 6,
  Preference: 7,
  ElapsedTime: 8,
  StatusCode: 13,
  RapidCommit: 14,
  DnsServers: 23,
  DomainList: 24,
  ClientFqdn: 39,
} as const;

/** Status codes (RFC 8415 §21.13). */
export const Dhcpv6Status = {
  Success: 0,
  UnspecFail: 1,
  NoAddrsAvail: 2,
  NoBinding: 3,
  NotOnLink: 4,
  UseMulticast: 5,
  NoPrefixAvail: 6,
} as const;

/** DUID types (RFC 8415 §11.1). */
export const DuidType = {
  Llt: 1,
  En: 2,
  Ll: 3,
  Uuid: 4,
} as const;

/** Flag bits of the Client FQDN option (RFC 4704 §4.1). */
export const Dhcpv6FqdnFlag = {
  S: 0x01,
  O: 0x02,
  N: 0x04,
} as const;

/** Deepest nesting of option lists parse accepts (message = 0, IA_NA = 1, IAADDR = 2). */
export const DHCPV6_MAX_DEPTH = 4;
/** Message header: type and transaction id. */
export const DHCPV6_HEADER_LEN = 4;
const OPTION_HEADER_LEN = 4;
const IA_NA_FIXED = 12;
const IAADDR_FIXED = 24;

/** A zero-copy view of a DHCPv6 client/server message (the UDP payload). */
export class Dhcpv6View {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks that the 4-octet header is present.
   *
   * @param buf - the UDP payload
   * @returns the view, or 'truncated'
   */
  static checked(buf: Uint8Array): Dhcpv6View | WireError {
    if (buf.length < DHCPV6_HEADER_LEN) return wireError('truncated');
    return new Dhcpv6View(plain(buf));
  }
  /** Wraps `buf` without checks, for emitting. */
  static unchecked(buf: Uint8Array): Dhcpv6View {
    return new Dhcpv6View(buf);
  }
  get msgType(): number {
    return this.buf[0]!;
  }
  /** The 24-bit transaction id. */
  get transactionId(): number {
    return getU32(this.buf, 0) & 0xffffff;
  }
  /** The option bytes after the header. */
  options(): Uint8Array {
    return this.buf.subarray(DHCPV6_HEADER_LEN);
  }
}

/** A DUID (RFC 8415 §11): the raw bytes, plus the fields of the known types when they fit. */
export interface Duid {
  /** The whole DUID, type included; emit writes exactly these bytes. */
  readonly raw: Uint8Array;
  readonly type: number;
  /** LLT, LL: IANA hardware type. */
  readonly hwType?: number;
  /** LLT: seconds since 2000-01-01 00:00 UTC, mod 2^32. */
  readonly timeS?: number;
  /** LLT, LL: link-layer address. */
  readonly linkLayerAddr?: Uint8Array;
  /** EN: IANA enterprise number. */
  readonly enterpriseNumber?: number;
  /** EN: vendor-assigned identifier. */
  readonly identifier?: Uint8Array;
  /** UUID: the 16-octet UUID (RFC 6355). */
  readonly uuid?: Uint8Array;
}

/**
 * Decodes a DUID's fields. Any DUID of at least two octets is accepted: one whose body does not
 * match its type's layout is kept with `type` and `raw` only, since servers compare DUIDs as
 * opaque bytes (RFC 8415 §11).
 *
 * @param raw - the DUID bytes (copied)
 * @returns the DUID, or 'malformed' when shorter than the 2-octet type
 */
export function parseDuid(raw: Uint8Array): Duid | WireError {
  if (raw.length < 2) return wireError('malformed');
  const b = new Uint8Array(raw);
  const type = getU16(b, 0);
  switch (type) {
    case DuidType.Llt:
      if (b.length < 8) break;
      return { raw: b, type, hwType: getU16(b, 2), timeS: getU32(b, 4), linkLayerAddr: b.slice(8) };
    case DuidType.En:
      if (b.length < 6) break;
      return { raw: b, type, enterpriseNumber: getU32(b, 2), identifier: b.slice(6) };
    case DuidType.Ll:
      if (b.length < 4) break;
      return { raw: b, type, hwType: getU16(b, 2), linkLayerAddr: b.slice(4) };
    case DuidType.Uuid:
      if (b.length !== 18) break;
      return { raw: b, type, uuid: b.slice(2) };
  }
  return { raw: b, type };
}

/**
 * Builds a DUID-LLT (RFC 8415 §11.2), the kind passt uses.
 *
 * @param hwType - IANA hardware type (1 = Ethernet)
 * @param timeS - seconds since 2000-01-01 00:00 UTC
 * @param linkLayerAddr - e.g. a MAC
 * @returns the DUID
 */
export function duidLlt(hwType: number, timeS: number, linkLayerAddr: Uint8Array): Duid {
  const raw = new Uint8Array(8 + linkLayerAddr.length);
  putU16(raw, 0, DuidType.Llt);
  putU16(raw, 2, hwType);
  putU32(raw, 4, timeS);
  raw.set(linkLayerAddr, 8);
  return parseDuid(raw) as Duid;
}

/**
 * Builds a DUID-LL (RFC 8415 §11.4).
 *
 * @param hwType - IANA hardware type (1 = Ethernet)
 * @param linkLayerAddr - e.g. a MAC
 * @returns the DUID
 */
export function duidLl(hwType: number, linkLayerAddr: Uint8Array): Duid {
  const raw = new Uint8Array(4 + linkLayerAddr.length);
  putU16(raw, 0, DuidType.Ll);
  putU16(raw, 2, hwType);
  raw.set(linkLayerAddr, 4);
  return parseDuid(raw) as Duid;
}

/** Client Identifier (1) or Server Identifier (2), RFC 8415 §21.2-21.3. */
export interface Dhcpv6DuidOption {
  readonly code: 1 | 2;
  readonly duid: Duid;
}
/** Identity Association for Non-temporary Addresses (3), RFC 8415 §21.4. */
export interface Dhcpv6IaNa {
  readonly code: 3;
  readonly iaid: number;
  /** Seconds; 0 lets the client choose, 0xffffffff is infinite. */
  readonly t1S: number;
  readonly t2S: number;
  /** IAADDR, Status Code and any other options inside. */
  readonly options: readonly Dhcpv6Option[];
}
/** IA Address (5), RFC 8415 §21.6. */
export interface Dhcpv6IaAddr {
  readonly code: 5;
  readonly address: Ipv6Addr;
  readonly preferredS: number;
  readonly validS: number;
  readonly options: readonly Dhcpv6Option[];
}
/** Option Request (6), RFC 8415 §21.7. */
export interface Dhcpv6Oro {
  readonly code: 6;
  readonly requested: readonly number[];
}
/** Preference (7), RFC 8415 §21.8. */
export interface Dhcpv6Preference {
  readonly code: 7;
  readonly preference: number;
}
/** Elapsed Time (8), RFC 8415 §21.9, in hundredths of a second. */
export interface Dhcpv6ElapsedTime {
  readonly code: 8;
  readonly elapsedCs: number;
}
/** Status Code (13), RFC 8415 §21.13. */
export interface Dhcpv6StatusCode {
  readonly code: 13;
  readonly status: number;
  /** UTF-8 text for people. */
  readonly message: string;
}
/** Rapid Commit (14), RFC 8415 §21.14. */
export interface Dhcpv6RapidCommit {
  readonly code: 14;
}
/** DNS Recursive Name Servers (23), RFC 3646 §3. */
export interface Dhcpv6DnsServers {
  readonly code: 23;
  readonly servers: readonly Ipv6Addr[];
}
/** Domain Search List (24), RFC 3646 §4. */
export interface Dhcpv6DomainList {
  readonly code: 24;
  readonly domains: readonly string[];
}
/** Client FQDN (39), RFC 4704 §4. */
export interface Dhcpv6ClientFqdn {
  readonly code: 39;
  /** {@link Dhcpv6FqdnFlag} bits plus any MBZ bits, as sent. */
  readonly flags: number;
  /** Fully qualified names end with '.', partial ones do not ("" is empty and partial). */
  readonly name: string;
}
/** Any option this codec has no type for, as sent. */
export interface Dhcpv6RawOption {
  readonly code: number;
  readonly data: Uint8Array;
}

/** The typed options by code. */
export interface Dhcpv6OptionMap {
  1: Dhcpv6DuidOption;
  2: Dhcpv6DuidOption;
  3: Dhcpv6IaNa;
  5: Dhcpv6IaAddr;
  6: Dhcpv6Oro;
  7: Dhcpv6Preference;
  8: Dhcpv6ElapsedTime;
  13: Dhcpv6StatusCode;
  14: Dhcpv6RapidCommit;
  23: Dhcpv6DnsServers;
  24: Dhcpv6DomainList;
  39: Dhcpv6ClientFqdn;
}
/** One DHCPv6 option: typed when its code is in {@link Dhcpv6OptionMap}, raw otherwise. */
export type Dhcpv6Option = Dhcpv6OptionMap[keyof Dhcpv6OptionMap] | Dhcpv6RawOption;

/** A parsed DHCPv6 client/server message. */
export interface Dhcpv6Repr {
  readonly msgType: number;
  /** 24 bits. */
  readonly transactionId: number;
  readonly options: readonly Dhcpv6Option[];
}

/**
 * True for an option kept raw. Typed options never carry `data`.
 *
 * @param o - an option
 * @returns whether `o` is a {@link Dhcpv6RawOption}
 */
export function isRawDhcpv6Option(o: Dhcpv6Option): o is Dhcpv6RawOption {
  return 'data' in o;
}

/**
 * The first typed option with `code` in `options`.
 *
 * @param options - a message's or an IA's options
 * @param code - a code of {@link Dhcpv6OptionMap}
 * @returns the option, or undefined
 */
export function findDhcpv6Option<C extends keyof Dhcpv6OptionMap>(
  options: readonly Dhcpv6Option[],
  code: C,
): Dhcpv6OptionMap[C] | undefined {
  return options.find((o) => o.code === code && !isRawDhcpv6Option(o)) as
    Dhcpv6OptionMap[C] | undefined;
}

/**
 * Every typed option with `code` in `options`, in order.
 *
 * @param options - a message's or an IA's options
 * @param code - a code of {@link Dhcpv6OptionMap}
 * @returns the options
 */
export function findAllDhcpv6Options<C extends keyof Dhcpv6OptionMap>(
  options: readonly Dhcpv6Option[],
  code: C,
): Array<Dhcpv6OptionMap[C]> {
  return options.filter((o) => o.code === code && !isRawDhcpv6Option(o)) as Array<
    Dhcpv6OptionMap[C]
  >;
}

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

/** Parses the option list `buf` (RFC 8415 §21.1) at nesting `depth`. */
function parseOptions(buf: Uint8Array, depth: number): Dhcpv6Option[] | WireError {
  if (depth > DHCPV6_MAX_DEPTH) return wireError('malformed');
  const out: Dhcpv6Option[] = [];
  let off = 0;
  while (off < buf.length) {
    if (off + OPTION_HEADER_LEN > buf.length) return wireError('truncated');
    const code = getU16(buf, off);
    const len = getU16(buf, off + 2);
    const start = off + OPTION_HEADER_LEN;
    if (start + len > buf.length) return wireError('truncated');
    const o = parseOption(code, buf.subarray(start, start + len), depth);
    if (isWireError(o)) return o;
    out.push(o);
    off = start + len;
  }
  return out;
}

/** Decodes one option's data. */
function parseOption(code: number, d: Uint8Array, depth: number): Dhcpv6Option | WireError {
  const C = Dhcpv6OptionCode;
  switch (code) {
    case C.ClientId:
    case C.ServerId: {
      const duid = parseDuid(d);
      if (isWireError(duid)) return duid;
      return { code, duid };
    }
    case C.IaNa: {
      // §21.4: IAID, T1, T2, then IA_NA-options.
      if (d.length < IA_NA_FIXED) return wireError('malformed');
      const options = parseOptions(d.subarray(IA_NA_FIXED), depth + 1);
      if (isWireError(options)) return options;
      return { code, iaid: getU32(d, 0), t1S: getU32(d, 4), t2S: getU32(d, 8), options };
    }
    case C.IaAddr: {
      // §21.6: address, preferred-lifetime, valid-lifetime, then IAaddr-options.
      if (d.length < IAADDR_FIXED) return wireError('malformed');
      const options = parseOptions(d.subarray(IAADDR_FIXED), depth + 1);
      if (isWireError(options)) return options;
      return {
        code,
        address: d.slice(0, 16),
        preferredS: getU32(d, 16),
        validS: getU32(d, 20),
        options,
      };
    }
    case C.Oro: {
      if (d.length % 2 !== 0) return wireError('malformed');
      const requested: number[] = [];
      for (let i = 0; i < d.length; i += 2) requested.push(getU16(d, i));
      return { code, requested };
    }
    case C.Preference:
      if (d.length !== 1) return wireError('malformed');
      return { code, preference: d[0]! };
    case C.ElapsedTime:
      if (d.length !== 2) return wireError('malformed');
      return { code, elapsedCs: getU16(d, 0) };
    case C.StatusCode:
      if (d.length < 2) return wireError('malformed');
      return { code, status: getU16(d, 0), message: utf8Decoder.decode(d.subarray(2)) };
    case C.RapidCommit:
      // §21.14: option-len 0. As with DHCPv4's option 80, presence is what counts.
      return { code };
    case C.DnsServers: {
      if (d.length % 16 !== 0) return wireError('malformed');
      const servers: Ipv6Addr[] = [];
      for (let i = 0; i < d.length; i += 16) servers.push(d.slice(i, i + 16));
      return { code, servers };
    }
    case C.DomainList: {
      const domains = decodeNameList(d);
      if (isWireError(domains)) return wireError('malformed');
      return { code, domains };
    }
    case C.ClientFqdn: {
      // RFC 4704 §4: flags, then a (possibly partial) name in DNS wire format.
      if (d.length < 1) return wireError('malformed');
      const name = decodePartialName(d.subarray(1));
      if (isWireError(name)) return name;
      return { code, flags: d[0]!, name };
    }
    default:
      return { code, data: d.slice() };
  }
}

/**
 * Parses a DHCPv6 client/server message.
 *
 * @param input - the UDP payload, or a view from {@link Dhcpv6View.checked}
 * @returns the repr; 'unsupported' for relay messages, 'truncated' or 'malformed' for bad options
 */
export function parseDhcpv6(input: Uint8Array | Dhcpv6View): Dhcpv6Repr | WireError {
  const view = input instanceof Dhcpv6View ? input : Dhcpv6View.checked(input);
  if (isWireError(view)) return view;
  const t = view.msgType;
  if (t === Dhcpv6MessageType.RelayForw || t === Dhcpv6MessageType.RelayRepl)
    return wireError('unsupported');
  const options = parseOptions(view.options(), 0);
  if (isWireError(options)) return options;
  return { msgType: t, transactionId: view.transactionId, options };
}

/** The data of option `o` (without its 4-octet header). */
function optionData(o: Dhcpv6Option): Uint8Array {
  if (isRawDhcpv6Option(o)) return o.data;
  switch (o.code) {
    case 1:
    case 2:
      return o.duid.raw;
    case 3: {
      const inner = encodeOptions(o.options);
      const d = new Uint8Array(IA_NA_FIXED + inner.length);
      putU32(d, 0, o.iaid);
      putU32(d, 4, o.t1S);
      putU32(d, 8, o.t2S);
      d.set(inner, IA_NA_FIXED);
      return d;
    }
    case 5: {
      const inner = encodeOptions(o.options);
      const d = new Uint8Array(IAADDR_FIXED + inner.length);
      d.set(o.address.subarray(0, 16));
      putU32(d, 16, o.preferredS);
      putU32(d, 20, o.validS);
      d.set(inner, IAADDR_FIXED);
      return d;
    }
    case 6: {
      const d = new Uint8Array(o.requested.length * 2);
      o.requested.forEach((c, i) => putU16(d, i * 2, c));
      return d;
    }
    case 7:
      return Uint8Array.of(o.preference & 0xff);
    case 8: {
      const d = new Uint8Array(2);
      putU16(d, 0, o.elapsedCs);
      return d;
    }
    case 13: {
      const m = utf8.encode(o.message);
      const d = new Uint8Array(2 + m.length);
      putU16(d, 0, o.status);
      d.set(m, 2);
      return d;
    }
    case 14:
      return new Uint8Array(0);
    case 23: {
      const d = new Uint8Array(o.servers.length * 16);
      o.servers.forEach((a, i) => d.set(a.subarray(0, 16), i * 16));
      return d;
    }
    case 24:
      return encodeNameList(o.domains, false);
    case 39: {
      // An unencodable name is sent as the empty partial name.
      const name = encodePartialName(o.name) ?? new Uint8Array(0);
      const d = new Uint8Array(1 + name.length);
      d[0] = o.flags & 0xff;
      d.set(name, 1);
      return d;
    }
  }
}

/** Encodes an option list; data longer than 65535 octets is cut (it cannot be represented). */
function encodeOptions(options: readonly Dhcpv6Option[]): Uint8Array {
  const parts = options.map((o) => {
    const d = optionData(o);
    return [o.code, d.length > 0xffff ? d.subarray(0, 0xffff) : d] as const;
  });
  const out = new Uint8Array(parts.reduce((n, [, d]) => n + OPTION_HEADER_LEN + d.length, 0));
  let off = 0;
  for (const [code, d] of parts) {
    putU16(out, off, code);
    putU16(out, off + 2, d.length);
    out.set(d, off + OPTION_HEADER_LEN);
    off += OPTION_HEADER_LEN + d.length;
  }
  return out;
}

/**
 * The exact length of the message `repr` emits.
 *
 * @param repr - the message
 * @returns the buffer length {@link emitDhcpv6} needs
 */
export function dhcpv6BufferLen(repr: Dhcpv6Repr): number {
  return DHCPV6_HEADER_LEN + encodeOptions(repr.options).length;
}

/**
 * Writes `repr` into `buf`, which must be exactly {@link dhcpv6BufferLen} bytes; every byte is
 * written. Never throws for such a buffer.
 *
 * @param repr - the message
 * @param buf - the UDP payload to fill
 * @returns the number of bytes written (`buf.length`)
 */
export function emitDhcpv6(repr: Dhcpv6Repr, buf: Uint8Array): number {
  putU32(buf, 0, (repr.transactionId & 0xffffff) >>> 0);
  buf[0] = repr.msgType;
  buf.set(encodeOptions(repr.options), DHCPV6_HEADER_LEN);
  return buf.length;
}

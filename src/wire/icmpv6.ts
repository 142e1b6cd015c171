// ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861 §4) messages with their options (§4.6, RFC 8106).
import {
  type WireError,
  wireError,
  getU16,
  getU32,
  putU16,
  putU32,
  type Mac,
  type Ipv6Addr,
  isWireError,
} from './common.js';
import { sum16, verify, finish, pseudoHeaderSum6 } from './checksum.js';
import { IpProtocol } from './ipv4.js';
import { decodeNameList, encodeName } from './dnsname.js';

/** ICMPv6 message types. */
export const Icmpv6Type = {
  DestUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParamProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicit: 133,
  RouterAdvert: 134,
  NeighborSolicit: 135,
  NeighborAdvert: 136,
  Redirect: 137,
} as const;

/** NDP option types. */
export const NdpOptionType = {
  SourceLinkAddr: 1,
  TargetLinkAddr: 2,
  PrefixInfo: 3,
  RedirectedHeader: 4,
  Mtu: 5,
  Rdnss: 25,
  Dnssl: 31,
} as const;

/** One NDP option. Unknown types are kept raw so they can be logged and re-emitted. */
export type NdpOption =
  | { readonly type: 1 | 2; readonly mac: Mac }
  | {
      readonly type: 3;
      readonly prefixLen: number;
      readonly onLink: boolean;
      readonly autonomous: boolean;
      readonly validLifetime: number;
      readonly preferredLifetime: number;
      readonly prefix: Ipv6Addr;
    }
  | { readonly type: 5; readonly mtu: number }
  | { readonly type: 25; readonly lifetime: number; readonly servers: readonly Ipv6Addr[] }
  | { readonly type: 31; readonly lifetime: number; readonly domains: readonly string[] }
  | { readonly type: number; readonly raw: Uint8Array };

/** A parsed ICMPv6 message. */
export type Icmpv6Repr =
  | {
      readonly type: 128 | 129;
      readonly ident: number;
      readonly seqNo: number;
      readonly data: Uint8Array;
    }
  | { readonly type: 1 | 3; readonly code: number; readonly invoking: Uint8Array }
  | { readonly type: 2; readonly mtu: number; readonly invoking: Uint8Array }
  | {
      readonly type: 4;
      readonly code: number;
      readonly pointer: number;
      readonly invoking: Uint8Array;
    }
  | { readonly type: 133; readonly options: readonly NdpOption[] }
  | {
      readonly type: 134;
      readonly curHopLimit: number;
      readonly managed: boolean;
      readonly other: boolean;
      readonly routerLifetime: number;
      readonly reachableTime: number;
      readonly retransTimer: number;
      readonly options: readonly NdpOption[];
    }
  | { readonly type: 135; readonly target: Ipv6Addr; readonly options: readonly NdpOption[] }
  | {
      readonly type: 136;
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly target: Ipv6Addr;
      readonly options: readonly NdpOption[];
    }
  | {
      readonly type: 137;
      readonly target: Ipv6Addr;
      readonly destination: Ipv6Addr;
      readonly options: readonly NdpOption[];
    };

/** A zero-copy view of an ICMPv6 message. */
export class Icmpv6View {
  private constructor(readonly buf: Uint8Array) {}
  static checked(buf: Uint8Array): Icmpv6View | WireError {
    return buf.length < 8 ? wireError('truncated') : new Icmpv6View(buf);
  }
  static unchecked(buf: Uint8Array): Icmpv6View {
    return new Icmpv6View(buf);
  }
  get type(): number {
    return this.buf[0]!;
  }
  get code(): number {
    return this.buf[1]!;
  }
  get checksum(): number {
    return getU16(this.buf, 2);
  }
  get ident(): number {
    return getU16(this.buf, 4);
  }
  set ident(v: number) {
    putU16(this.buf, 4, v);
  }
  get seqNo(): number {
    return getU16(this.buf, 6);
  }
  /** True when the checksum over the pseudo-header (RFC 8200 §8.1) and message verifies. */
  checksumOk(src: Ipv6Addr, dst: Ipv6Addr): boolean {
    return verify(sum16(this.buf, pseudoHeaderSum6(src, dst, IpProtocol.Icmpv6, this.buf.length)));
  }
}

function parseOptions(b: Uint8Array): NdpOption[] | WireError {
  const out: NdpOption[] = [];
  let off = 0;
  while (off < b.length) {
    if (off + 2 > b.length) return wireError('truncated');
    const type = b[off]!;
    const len = b[off + 1]! * 8;
    // RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero."
    if (len === 0) return wireError('malformed');
    if (off + len > b.length) return wireError('truncated');
    const o = b.subarray(off, off + len);
    if ((type === 1 || type === 2) && len === 8) out.push({ type, mac: o.slice(2, 8) });
    else if (type === 3 && len === 32)
      out.push({
        type: 3,
        prefixLen: o[2]!,
        onLink: (o[3]! & 0x80) !== 0,
        autonomous: (o[3]! & 0x40) !== 0,
        validLifetime: getU32(o, 4),
        preferredLifetime: getU32(o, 8),
        prefix: o.slice(16, 32),
      });
    else if (type === 5 && len === 8) out.push({ type: 5, mtu: getU32(o, 4) });
    else if (type === 25 && len >= 24 && (len - 8) % 16 === 0) {
      const servers: Ipv6Addr[] = [];
      for (let i = 8; i < len; i += 16) servers.push(o.slice(i, i + 16));
      out.push({ type: 25, lifetime: getU32(o, 4), servers });
    } else if (type === 31 && len >= 16) {
      const domains = decodeNameList(o.subarray(8), true);
      if (isWireError(domains)) return domains;
      out.push({ type: 31, lifetime: getU32(o, 4), domains });
    } else out.push({ type, raw: o.slice(2) });
    off += len;
  }
  return out;
}

function optionLen(o: NdpOption): number {
  if ('raw' in o) return Math.ceil((o.raw.length + 2) / 8) * 8;
  switch (o.type) {
    case 1:
    case 2:
    case 5:
      return 8;
    case 3:
      return 32;
    case 25:
      return 8 + 16 * (o as { servers: readonly Ipv6Addr[] }).servers.length;
    case 31: {
      const n = (o as { domains: readonly string[] }).domains.reduce(
        (s, d) => s + (encodeName(d)?.length ?? 0),
        0,
      );
      return 8 + Math.ceil(n / 8) * 8;
    }
    default:
      return 8;
  }
}

function emitOption(o: NdpOption, b: Uint8Array): void {
  const len = optionLen(o);
  b.fill(0, 0, len);
  b[0] = o.type;
  b[1] = len / 8;
  if ('raw' in o) {
    b.set(o.raw, 2);
    return;
  }
  if ('mac' in o) b.set(o.mac, 2);
  else if ('prefix' in o) {
    b[2] = o.prefixLen;
    b[3] = (o.onLink ? 0x80 : 0) | (o.autonomous ? 0x40 : 0);
    putU32(b, 4, o.validLifetime);
    putU32(b, 8, o.preferredLifetime);
    b.set(o.prefix, 16);
  } else if ('mtu' in o) putU32(b, 4, o.mtu);
  else if ('servers' in o) {
    putU32(b, 4, o.lifetime);
    o.servers.forEach((s, i) => b.set(s, 8 + 16 * i));
  } else if ('domains' in o) {
    putU32(b, 4, o.lifetime);
    let off = 8;
    for (const d of o.domains) {
      const e = encodeName(d);
      if (!e) continue;
      b.set(e, off);
      off += e.length;
    }
  }
}

function optionsLen(opts: readonly NdpOption[]): number {
  return opts.reduce((s, o) => s + optionLen(o), 0);
}

/**
 * Parses a checked view. `src`/`dst` are the IPv6 addresses for the checksum pseudo-header.
 * NDP messages must arrive with hop limit 255 (RFC 4861 §6.1.1, §7.1.1); the caller checks that.
 */
export function parseIcmpv6(
  view: Icmpv6View,
  src: Ipv6Addr,
  dst: Ipv6Addr,
): Icmpv6Repr | WireError {
  if (!view.checksumOk(src, dst)) return wireError('bad-checksum');
  const b = view.buf;
  const t = view.type;
  const need = (n: number) => b.length >= n;
  switch (t) {
    case 128:
    case 129:
      return { type: t, ident: view.ident, seqNo: view.seqNo, data: b.slice(8) };
    case 1:
    case 3:
      return { type: t, code: view.code, invoking: b.slice(8) };
    case 2:
      return { type: 2, mtu: getU32(b, 4), invoking: b.slice(8) };
    case 4:
      return { type: 4, code: view.code, pointer: getU32(b, 4), invoking: b.slice(8) };
  }
  if (t < 133 || t > 137) return wireError('unsupported');
  if (view.code !== 0) return wireError('malformed');
  const fixed = t === 133 ? 8 : t === 134 ? 16 : t === 137 ? 40 : 24;
  if (!need(fixed)) return wireError('truncated');
  const options = parseOptions(b.subarray(fixed));
  if (isWireError(options)) return options;
  switch (t) {
    case 133:
      return { type: 133, options };
    case 134:
      return {
        type: 134,
        curHopLimit: b[4]!,
        managed: (b[5]! & 0x80) !== 0,
        other: (b[5]! & 0x40) !== 0,
        routerLifetime: getU16(b, 6),
        reachableTime: getU32(b, 8),
        retransTimer: getU32(b, 12),
        options,
      };
    case 135:
      return { type: 135, target: b.slice(8, 24), options };
    case 136:
      return {
        type: 136,
        router: (b[4]! & 0x80) !== 0,
        solicited: (b[4]! & 0x40) !== 0,
        override: (b[4]! & 0x20) !== 0,
        target: b.slice(8, 24),
        options,
      };
    default:
      return { type: 137, target: b.slice(8, 24), destination: b.slice(24, 40), options };
  }
}

/** Total message length of `repr`. */
export function icmpv6BufferLen(r: Icmpv6Repr): number {
  switch (r.type) {
    case 128:
    case 129:
      return 8 + r.data.length;
    case 1:
    case 2:
    case 3:
    case 4:
      return 8 + r.invoking.length;
    case 133:
      return 8 + optionsLen(r.options);
    case 134:
      return 16 + optionsLen(r.options);
    case 135:
    case 136:
      return 24 + optionsLen(r.options);
    case 137:
      return 40 + optionsLen(r.options);
  }
}

/** Writes the whole message into `buf` (icmpv6BufferLen bytes), checksum over the pseudo-header included. */
export function emitIcmpv6(r: Icmpv6Repr, buf: Uint8Array, src: Ipv6Addr, dst: Ipv6Addr): void {
  const len = icmpv6BufferLen(r);
  buf.fill(0, 0, 8);
  buf[0] = r.type;
  let fixed = 8;
  switch (r.type) {
    case 128:
    case 129:
      putU16(buf, 4, r.ident);
      putU16(buf, 6, r.seqNo);
      buf.set(r.data, 8);
      break;
    case 1:
    case 3:
      buf[1] = r.code;
      buf.set(r.invoking, 8);
      break;
    case 2:
      putU32(buf, 4, r.mtu);
      buf.set(r.invoking, 8);
      break;
    case 4:
      buf[1] = r.code;
      putU32(buf, 4, r.pointer);
      buf.set(r.invoking, 8);
      break;
    case 133:
      break;
    case 134:
      fixed = 16;
      buf[4] = r.curHopLimit;
      buf[5] = (r.managed ? 0x80 : 0) | (r.other ? 0x40 : 0);
      putU16(buf, 6, r.routerLifetime);
      putU32(buf, 8, r.reachableTime);
      putU32(buf, 12, r.retransTimer);
      break;
    case 135:
      fixed = 24;
      buf.set(r.target, 8);
      break;
    case 136:
      fixed = 24;
      buf[4] = (r.router ? 0x80 : 0) | (r.solicited ? 0x40 : 0) | (r.override ? 0x20 : 0);
      buf.set(r.target, 8);
      break;
    case 137:
      fixed = 40;
      buf.set(r.target, 8);
      buf.set(r.destination, 24);
      break;
  }
  if ('options' in r) {
    let off = fixed;
    for (const o of r.options) {
      emitOption(o, buf.subarray(off));
      off += optionLen(o);
    }
  }
  putU16(
    buf,
    2,
    finish(sum16(buf.subarray(0, len), pseudoHeaderSum6(src, dst, IpProtocol.Icmpv6, len))),
  );
}

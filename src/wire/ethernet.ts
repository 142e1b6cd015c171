// Ethernet II frames (IEEE 802.3 with EtherType), 802.1Q/802.1ad VLAN tags recognised.
import { type WireError, wireError, getU16, putU16, type Mac } from './common.js';

/** EtherType values bindery knows; any other u16 is kept as a number. */
export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  Vlan: 0x8100,
  QinQ: 0x88a8,
  Ipv6: 0x86dd,
} as const;

/** Named offsets of the untagged header. */
export const EthernetField = { DST: 0, SRC: 6, ETHERTYPE: 12 } as const;
/** Length of an untagged Ethernet header. */
export const ETHERNET_HEADER_LEN = 14;
/** Minimum frame length without FCS (IEEE 802.3 §4.4.2): shorter frames are padded. */
export const ETHERNET_MIN_FRAME = 60;

/** A zero-copy view of an Ethernet frame. */
export class EthernetView {
  private constructor(
    readonly buf: Uint8Array,
    /** Offset of the (innermost) EtherType field: 12, 16 with one tag, 20 with two. */
    readonly typeOffset: number,
  ) {}

  /** Checks the frame is long enough for its header and tags; never throws. */
  static checked(buf: Uint8Array): EthernetView | WireError {
    if (buf.length < ETHERNET_HEADER_LEN) return wireError('truncated');
    let off = 12;
    for (let tags = 0; tags < 2; tags++) {
      const t = getU16(buf, off);
      if (t !== EtherType.Vlan && t !== EtherType.QinQ) break;
      off += 4;
      if (buf.length < off + 2) return wireError('truncated');
    }
    return new EthernetView(buf, off);
  }

  /** A view for emitting into `buf` (untagged unless told otherwise). */
  static unchecked(buf: Uint8Array, tagged = false): EthernetView {
    return new EthernetView(buf, tagged ? 16 : 12);
  }

  get dst(): Mac {
    return this.buf.subarray(0, 6);
  }
  get src(): Mac {
    return this.buf.subarray(6, 12);
  }
  /** The innermost EtherType (after any VLAN tags). */
  get ethertype(): number {
    return getU16(this.buf, this.typeOffset);
  }
  /** The outermost VLAN id, or undefined when untagged. */
  get vlanId(): number | undefined {
    return this.typeOffset > 12 ? getU16(this.buf, 14) & 0x0fff : undefined;
  }
  /** The outermost VLAN priority code point, or undefined when untagged. */
  get vlanPcp(): number | undefined {
    return this.typeOffset > 12 ? this.buf[14]! >>> 5 : undefined;
  }
  /** Header length including tags. */
  get headerLen(): number {
    return this.typeOffset + 2;
  }
  /** The payload, zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(this.typeOffset + 2);
  }
}

/** A parsed Ethernet header. */
export interface EthernetRepr {
  readonly dst: Mac;
  readonly src: Mac;
  readonly ethertype: number;
  /** One 802.1Q tag (TPID 0x8100), if present. */
  readonly vlan?: { readonly id: number; readonly pcp: number };
}

/** The header as a repr (copies the addresses). Double-tagged frames are 'unsupported'. */
export function parseEthernet(view: EthernetView): EthernetRepr | WireError {
  if (view.typeOffset > 16) return wireError('unsupported');
  const base = { dst: view.dst.slice(), src: view.src.slice(), ethertype: view.ethertype };
  if (view.typeOffset === 16) return { ...base, vlan: { id: view.vlanId!, pcp: view.vlanPcp! } };
  return base;
}

/** Header length of `repr`: 14, or 18 with a VLAN tag. */
export function ethernetHeaderLen(repr: EthernetRepr): number {
  return repr.vlan ? 18 : ETHERNET_HEADER_LEN;
}

/** Writes the header of `repr` at the start of `buf` (at least ethernetHeaderLen bytes). */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array): void {
  buf.set(repr.dst, 0);
  buf.set(repr.src, 6);
  if (repr.vlan) {
    putU16(buf, 12, EtherType.Vlan);
    putU16(buf, 14, ((repr.vlan.pcp & 7) << 13) | (repr.vlan.id & 0x0fff));
    putU16(buf, 16, repr.ethertype);
  } else {
    putU16(buf, 12, repr.ethertype);
  }
}

/** True for the broadcast address ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(m: Uint8Array): boolean {
  return (
    m[0] === 0xff &&
    m[1] === 0xff &&
    m[2] === 0xff &&
    m[3] === 0xff &&
    m[4] === 0xff &&
    m[5] === 0xff
  );
}

/** True for group (multicast or broadcast) addresses: the I/G bit of the first octet. */
export function isMulticastMac(m: Uint8Array): boolean {
  return (m[0]! & 1) === 1;
}

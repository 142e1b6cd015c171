// Ethernet II frames (IEEE 802.3 with an EtherType), with 802.1Q / 802.1ad VLAN tags recognised.
//
// Layout (IEEE 802.3 §3.1.1, IEEE 802.1Q §9.3): dst(6) src(6) [TPID(2) TCI(2)]… EtherType(2).
// The view walks up to two tags (an 802.1ad outer tag and an 802.1Q inner one) so that the payload
// offset is right for any frame; the repr holds one tag, and parseEthernet calls double-tagged
// frames 'unsupported'. The frame check sequence is never present (Linux and QEMU strip it).
import { type WireError, wireError, getU16, putU16, type Mac } from './common.js';

/** EtherType values bindery knows (IEEE registry); any other u16 is kept as a plain number. */
export const EtherType = {
  Ipv4: 0x0800,
  Arp: 0x0806,
  /** 802.1Q customer VLAN tag (C-TAG TPID). */
  Vlan: 0x8100,
  /** 802.1ad service VLAN tag (S-TAG TPID, "QinQ"). */
  QinQ: 0x88a8,
  Ipv6: 0x86dd,
} as const;

/** Named offsets of the Ethernet header; the TAG_* fields exist only in a tagged frame. */
export const EthernetField = {
  DST: 0,
  SRC: 6,
  /** EtherType of an untagged frame, or the TPID of the first tag. */
  ETHERTYPE: 12,
  TAG_TCI: 14,
  /** EtherType after one tag. */
  TAGGED_ETHERTYPE: 16,
} as const;

/** Length of an untagged Ethernet header. */
export const ETHERNET_HEADER_LEN = 14;
/** Length of one VLAN tag (TPID + TCI). */
export const ETHERNET_TAG_LEN = 4;
/** Most VLAN tags the view walks. */
export const ETHERNET_MAX_TAGS = 2;
/** Minimum frame length without FCS (IEEE 802.3 §4.4.2): shorter frames are padded by the sender. */
export const ETHERNET_MIN_FRAME = 60;
/**
 * Smallest EtherType value: 2-byte values up to 1500 are an IEEE 802.3 length field instead
 * (IEEE 802.3 §3.2.6), and 1501–1535 are undefined.
 */
export const ETHERNET_MIN_ETHERTYPE = 0x0600;

/** One VLAN tag. */
export interface VlanTag {
  /** VLAN identifier, 0–4095 (0: priority tag only). */
  readonly id: number;
  /** Priority code point, 0–7. */
  readonly pcp: number;
  /** Drop eligible indicator; false when absent. */
  readonly dei?: boolean;
  /** Tag protocol identifier, 0x8100 (default) or 0x88a8. */
  readonly tpid?: number;
}

function isTpid(t: number): boolean {
  return t === EtherType.Vlan || t === EtherType.QinQ;
}

/**
 * Where the innermost EtherType field of `buf` is (the checks of EthernetView.checked, without
 * a view): 12, 16 with one tag, 20 with two; -1 when the frame is truncated.
 * @param buf - The frame, without FCS.
 */
export function ethernetTypeOffset(buf: Uint8Array): number {
  if (buf.length < ETHERNET_HEADER_LEN) return -1;
  let off: number = EthernetField.ETHERTYPE;
  for (let tags = 0; tags < ETHERNET_MAX_TAGS && isTpid(getU16(buf, off)); tags++) {
    off += ETHERNET_TAG_LEN;
    if (buf.length < off + 2) return -1;
  }
  return off;
}

/** A zero-copy view of an Ethernet frame. After `checked`, no accessor reads out of bounds. */
export class EthernetView {
  private constructor(
    readonly buf: Uint8Array,
    /** Offset of the innermost EtherType field: 12, 16 with one tag, 20 with two. */
    readonly typeOffset: number,
  ) {}

  /**
   * Checks the frame holds its header and every tag it announces (up to two).
   * @param buf - The frame, without FCS.
   * @returns The view, or 'truncated'.
   */
  static checked(buf: Uint8Array): EthernetView | WireError {
    const off = ethernetTypeOffset(buf);
    return off < 0 ? wireError('truncated') : new EthernetView(buf, off);
  }

  /**
   * A view for emitting into `buf`, untagged unless `tagged`. No checks: for builders only.
   * @param buf - At least ETHERNET_HEADER_LEN (+4 when tagged) bytes.
   * @param tagged - Whether the frame carries one VLAN tag.
   */
  static unchecked(buf: Uint8Array, tagged = false): EthernetView {
    return new EthernetView(buf, tagged ? EthernetField.TAGGED_ETHERTYPE : EthernetField.ETHERTYPE);
  }

  /** Destination MAC, zero copy. */
  get dst(): Mac {
    return this.buf.subarray(0, 6);
  }
  set dst(m: Mac) {
    this.buf.set(m.subarray(0, 6), 0);
  }
  /** Source MAC, zero copy. */
  get src(): Mac {
    return this.buf.subarray(6, 12);
  }
  set src(m: Mac) {
    this.buf.set(m.subarray(0, 6), 6);
  }
  /** The innermost EtherType (after any VLAN tags). */
  get ethertype(): number {
    return getU16(this.buf, this.typeOffset);
  }
  set ethertype(v: number) {
    putU16(this.buf, this.typeOffset, v);
  }
  /** Number of VLAN tags walked (0–2). */
  get tagCount(): number {
    return (this.typeOffset - EthernetField.ETHERTYPE) / ETHERNET_TAG_LEN;
  }
  /** TPID of the outer tag, or undefined when untagged. */
  get vlanTpid(): number | undefined {
    return this.tagCount > 0 ? getU16(this.buf, EthernetField.ETHERTYPE) : undefined;
  }
  /** VLAN id of the outer tag, or undefined when untagged. */
  get vlanId(): number | undefined {
    return this.tagCount > 0 ? getU16(this.buf, EthernetField.TAG_TCI) & 0x0fff : undefined;
  }
  /** Priority code point of the outer tag, or undefined when untagged. */
  get vlanPcp(): number | undefined {
    return this.tagCount > 0 ? this.buf[EthernetField.TAG_TCI]! >>> 5 : undefined;
  }
  /** Drop eligible indicator of the outer tag, or undefined when untagged. */
  get vlanDei(): boolean | undefined {
    return this.tagCount > 0 ? (this.buf[EthernetField.TAG_TCI]! & 0x10) !== 0 : undefined;
  }
  /** Header length including tags: where the payload starts. */
  get headerLen(): number {
    return this.typeOffset + 2;
  }
  /** Offset of the payload in the frame (same as headerLen). */
  get payloadOffset(): number {
    return this.typeOffset + 2;
  }
  /** The payload (including any trailing padding), zero copy. */
  payload(): Uint8Array {
    return this.buf.subarray(this.typeOffset + 2);
  }
}

/** A parsed Ethernet header. */
export interface EthernetRepr {
  readonly dst: Mac;
  readonly src: Mac;
  /** The EtherType of the payload (after the tag, when tagged). */
  readonly ethertype: number;
  /** One VLAN tag, if present. */
  readonly vlan?: VlanTag;
}

/**
 * The header as a repr (addresses copied). Double-tagged frames and 802.3 length/LLC frames
 * (EtherType below 0x0600) are 'unsupported'.
 * @param view - A checked view.
 * @returns The repr, or 'unsupported'.
 */
export function parseEthernet(view: EthernetView): EthernetRepr | WireError {
  if (view.tagCount > 1) return wireError('unsupported');
  const ethertype = view.ethertype;
  if (ethertype < ETHERNET_MIN_ETHERTYPE) return wireError('unsupported');
  const base = { dst: view.dst.slice(), src: view.src.slice(), ethertype };
  if (view.tagCount === 0) return base;
  return {
    ...base,
    vlan: { id: view.vlanId!, pcp: view.vlanPcp!, dei: view.vlanDei!, tpid: view.vlanTpid! },
  };
}

/**
 * Header length of `repr`.
 * @returns 14, or 18 with a VLAN tag.
 */
export function ethernetHeaderLen(repr: EthernetRepr): number {
  return repr.vlan ? ETHERNET_HEADER_LEN + ETHERNET_TAG_LEN : ETHERNET_HEADER_LEN;
}

/**
 * Writes the header of `repr` into the first ethernetHeaderLen(repr) bytes of `buf`; bytes
 * after it (the payload) are left to the caller.
 * @param repr - The header; vlan.id, pcp are masked to 12 and 3 bits.
 * @param buf - At least ethernetHeaderLen(repr) bytes.
 */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array): void {
  buf.set(repr.dst.subarray(0, 6), EthernetField.DST);
  buf.set(repr.src.subarray(0, 6), EthernetField.SRC);
  const vlan = repr.vlan;
  if (vlan) {
    putU16(buf, EthernetField.ETHERTYPE, vlan.tpid ?? EtherType.Vlan);
    const tci = ((vlan.pcp & 7) << 13) | (vlan.dei ? 0x1000 : 0) | (vlan.id & 0x0fff);
    putU16(buf, EthernetField.TAG_TCI, tci);
    putU16(buf, EthernetField.TAGGED_ETHERTYPE, repr.ethertype);
  } else {
    putU16(buf, EthernetField.ETHERTYPE, repr.ethertype);
  }
}

/**
 * True for the broadcast address ff:ff:ff:ff:ff:ff.
 * @param m - A MAC address.
 */
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

/**
 * True for group (multicast or broadcast) addresses: the I/G bit of the first octet
 * (IEEE 802 §8.2).
 * @param m - A MAC address.
 */
export function isMulticastMac(m: Uint8Array): boolean {
  return (m[0]! & 1) === 1;
}

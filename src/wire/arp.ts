// ARP (RFC 826) for Ethernet hardware addresses and IPv4 protocol addresses.
//
// RFC 826 "Packet format": ar$hrd(2) ar$pro(2) ar$hln(1) ar$pln(1) ar$op(2) ar$sha ar$spa ar$tha
// ar$tpa. Only hrd = 1 (Ethernet), pro = 0x0800 (IPv4), hln = 6, pln = 4 is handled, which fixes
// the packet at 28 bytes; anything else is 'unsupported'. Bytes after the 28 (Ethernet padding
// up to the 60-byte minimum frame) are ignored.
import { type WireError, wireError, getU16, putU16, type Mac, type Ipv4Addr } from './common.js';

/** ARP operation codes (RFC 826 ar$op; RFC 903 adds 3/4 for RARP, not handled). */
export const ArpOp = { Request: 1, Reply: 2 } as const;
/** Hardware types (ar$hrd): only Ethernet is handled. */
export const ArpHardware = { Ethernet: 1 } as const;

/** Named offsets of an Ethernet/IPv4 ARP packet. */
export const ArpField = {
  HTYPE: 0,
  PTYPE: 2,
  HLEN: 4,
  PLEN: 5,
  OPER: 6,
  SHA: 8,
  SPA: 14,
  THA: 18,
  TPA: 24,
} as const;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;

/** A zero-copy view of an ARP packet, read at Ethernet/IPv4 offsets. */
export class ArpView {
  private constructor(readonly buf: Uint8Array) {}

  /**
   * Checks there are 28 bytes, so every accessor is in bounds; the hardware and protocol kinds
   * are checked by parseArp.
   * @param buf - The Ethernet payload.
   * @returns The view, or 'truncated'.
   */
  static checked(buf: Uint8Array): ArpView | WireError {
    return buf.length < ARP_LEN ? wireError('truncated') : new ArpView(buf);
  }
  /** A view for emitting into `buf` (28 bytes). No checks. */
  static unchecked(buf: Uint8Array): ArpView {
    return new ArpView(buf);
  }
  /** Hardware type (ar$hrd). */
  get htype(): number {
    return getU16(this.buf, ArpField.HTYPE);
  }
  /** Protocol type (ar$pro), an EtherType. */
  get ptype(): number {
    return getU16(this.buf, ArpField.PTYPE);
  }
  /** Hardware address length (ar$hln). */
  get hlen(): number {
    return this.buf[ArpField.HLEN]!;
  }
  /** Protocol address length (ar$pln). */
  get plen(): number {
    return this.buf[ArpField.PLEN]!;
  }
  /** Operation (ar$op). */
  get operation(): number {
    return getU16(this.buf, ArpField.OPER);
  }
  /** Sender hardware address, zero copy. */
  get senderMac(): Mac {
    return this.buf.subarray(ArpField.SHA, ArpField.SHA + 6);
  }
  /** Sender protocol address, zero copy. */
  get senderIp(): Ipv4Addr {
    return this.buf.subarray(ArpField.SPA, ArpField.SPA + 4);
  }
  /** Target hardware address, zero copy. */
  get targetMac(): Mac {
    return this.buf.subarray(ArpField.THA, ArpField.THA + 6);
  }
  /** Target protocol address, zero copy. */
  get targetIp(): Ipv4Addr {
    return this.buf.subarray(ArpField.TPA, ArpField.TPA + 4);
  }
}

/** A parsed Ethernet/IPv4 ARP packet. */
export interface ArpRepr {
  /** 1 request, 2 reply ({@link ArpOp}). */
  readonly operation: number;
  readonly senderMac: Mac;
  readonly senderIp: Ipv4Addr;
  readonly targetMac: Mac;
  readonly targetIp: Ipv4Addr;
}

/**
 * Applies RFC 826's "?Do I have the hardware type in ar$hrd? … ?Do I speak the protocol in
 * ar$pro?": Ethernet (1) / IPv4 (0x0800) with 6/4 address lengths only, and request or reply only.
 * @param view - A checked view.
 * @returns The repr (addresses copied), or 'unsupported'.
 */
export function parseArp(view: ArpView): ArpRepr | WireError {
  if (
    view.htype !== ArpHardware.Ethernet ||
    view.ptype !== 0x0800 ||
    view.hlen !== 6 ||
    view.plen !== 4
  )
    return wireError('unsupported');
  const op = view.operation;
  if (op !== ArpOp.Request && op !== ArpOp.Reply) return wireError('unsupported');
  return {
    operation: op,
    senderMac: view.senderMac.slice(),
    senderIp: view.senderIp.slice(),
    targetMac: view.targetMac.slice(),
    targetIp: view.targetIp.slice(),
  };
}

/**
 * Length of the ARP packet of `repr`.
 * @returns Always ARP_LEN (28).
 */
export function arpBufferLen(_repr?: ArpRepr): number {
  return ARP_LEN;
}

/**
 * Writes all 28 bytes of `repr` at the start of `buf`.
 * @param repr - The packet.
 * @param buf - At least 28 bytes.
 */
export function emitArp(repr: ArpRepr, buf: Uint8Array): void {
  putU16(buf, ArpField.HTYPE, ArpHardware.Ethernet);
  putU16(buf, ArpField.PTYPE, 0x0800);
  buf[ArpField.HLEN] = 6;
  buf[ArpField.PLEN] = 4;
  putU16(buf, ArpField.OPER, repr.operation);
  buf.set(repr.senderMac.subarray(0, 6), ArpField.SHA);
  buf.set(repr.senderIp.subarray(0, 4), ArpField.SPA);
  buf.set(repr.targetMac.subarray(0, 6), ArpField.THA);
  buf.set(repr.targetIp.subarray(0, 4), ArpField.TPA);
}

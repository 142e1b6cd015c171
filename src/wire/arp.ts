// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses.
import { type WireError, wireError, getU16, putU16, type Mac, type Ipv4Addr } from './common.js';

/** ARP operation codes (RFC 826 "ar$op"). */
export const ArpOp = { Request: 1, Reply: 2 } as const;
/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;

/** A zero-copy view of an Ethernet/IPv4 ARP packet. */
export class ArpView {
  private constructor(readonly buf: Uint8Array) {}
  /** Needs 28 bytes; hardware/protocol kinds are checked by parseArp. */
  static checked(buf: Uint8Array): ArpView | WireError {
    return buf.length < ARP_LEN ? wireError('truncated') : new ArpView(buf);
  }
  static unchecked(buf: Uint8Array): ArpView {
    return new ArpView(buf);
  }
  get htype(): number {
    return getU16(this.buf, 0);
  }
  get ptype(): number {
    return getU16(this.buf, 2);
  }
  get hlen(): number {
    return this.buf[4]!;
  }
  get plen(): number {
    return this.buf[5]!;
  }
  get operation(): number {
    return getU16(this.buf, 6);
  }
  get senderMac(): Mac {
    return this.buf.subarray(8, 14);
  }
  get senderIp(): Ipv4Addr {
    return this.buf.subarray(14, 18);
  }
  get targetMac(): Mac {
    return this.buf.subarray(18, 24);
  }
  get targetIp(): Ipv4Addr {
    return this.buf.subarray(24, 28);
  }
}

/** A parsed ARP packet. */
export interface ArpRepr {
  readonly operation: number;
  readonly senderMac: Mac;
  readonly senderIp: Ipv4Addr;
  readonly targetMac: Mac;
  readonly targetIp: Ipv4Addr;
}

/** Ethernet (1) / IPv4 (0x0800) with 6/4 address lengths only; request or reply only. */
export function parseArp(view: ArpView): ArpRepr | WireError {
  if (view.htype !== 1 || view.ptype !== 0x0800 || view.hlen !== 6 || view.plen !== 4)
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

/** Writes all 28 bytes of `repr` into `buf`. */
export function emitArp(repr: ArpRepr, buf: Uint8Array): void {
  putU16(buf, 0, 1);
  putU16(buf, 2, 0x0800);
  buf[4] = 6;
  buf[5] = 4;
  putU16(buf, 6, repr.operation);
  buf.set(repr.senderMac, 8);
  buf.set(repr.senderIp, 14);
  buf.set(repr.targetMac, 18);
  buf.set(repr.targetIp, 24);
}

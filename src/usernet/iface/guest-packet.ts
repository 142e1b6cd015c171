// A test-support shim for the flow and tap suites that decode bindery's output frames: locates
// one protocol's bytes in a frame through parseGuestFrame. The link services no longer use it
// (they take the parsed packet, iface/packet.ts); delete it once its last importers
// (flow/tcp.test.ts, flow/tcp-frame.test.ts, test/native/tap-offload.test.ts) use packet.ts.
import type { EthernetView } from '../../wire/ethernet.js';
import { acceptPacket, parseGuestFrame, type ServiceCounters } from './packet.js';

export type { ServiceCounters } from './packet.js';

/** A packet of the wanted protocol, located in its frame. */
export interface GuestPacketBytes {
  readonly eth: EthernetView;
  /** Source and destination addresses (4 or 16 bytes). */
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  /** TTL (IPv4) or hop limit (IPv6). */
  readonly hopLimit: number;
  /** The upper-layer bytes (zero copy). */
  readonly l4: Uint8Array;
}

/**
 * The unfragmented `protocol` packet over IPv`family` in `frame`, or undefined (counted on `c`
 * as ignored, or dropped by reason). The IPv4 header checksum is verified; L4 is not looked at.
 *
 * @param frame - An Ethernet frame.
 * @param family - 4 or 6.
 * @param protocol - The upper-layer protocol wanted.
 * @param c - Counters, updated in place.
 * @returns The located packet.
 */
export function guestPacket(
  frame: Uint8Array,
  family: 4 | 6,
  protocol: number,
  c: ServiceCounters,
): GuestPacketBytes | undefined {
  const p = parseGuestFrame(frame);
  if (!acceptPacket(p, family, protocol, c) || !p.eth) return undefined;
  return { eth: p.eth, src: p.src, dst: p.dst, hopLimit: p.hopLimit, l4: p.l4 };
}

// Which receive queue a frame to the guest goes to when it negotiated multiqueue: one flow, one queue (pure).
//
// virtio 1.2 §5.1.6.5.5 leaves the device's choice of receive queue open (RSS and hash reports
// are separate features bindery does not offer). What matters is that the frames of one flow
// stay in order, so they must all take the same queue: the choice is a hash of the flow's
// addresses and ports (FNV-1a, 32 bits, then murmur3's finalizer: FNV-1a's low bits are only
// the parity of its input bytes' low bits, and Linux gives connect() even ports, so without the
// finalizer two rings saw nearly all flows on one), modulo the number of usable RX queues. Frames that are
// not IPv4/IPv6 (ARP, and whatever else) and IP fragments past the first (no ports) hash to what
// they can: non-IP ones always take the first usable queue; fragments hash their addresses only,
// as the first fragment's ports are unknown there — a fragmented datagram may then arrive over
// two queues, which its reassembly does not mind. IPv6 extension headers are not walked: the
// ports are taken only right after a fixed header whose next header is TCP or UDP.

import { FNV_OFFSET, fmix32, fnv1a as fnv, fnv1aByte } from '../../flow/tuple-hash.js';

const ETH_HLEN = 14;

/**
 * A hash of the frame's flow (IP addresses, protocol and, for TCP and UDP, ports), or undefined
 * for a frame that is not IPv4/IPv6 or is too short to tell.
 */
export function flowHash(frame: Uint8Array): number | undefined {
  if (frame.length < ETH_HLEN + 20) return undefined;
  const type = (frame[12]! << 8) | frame[13]!;
  let h = FNV_OFFSET;
  let proto: number;
  let l4: number;
  if (type === 0x0800) {
    const ihl = (frame[ETH_HLEN]! & 0x0f) * 4;
    proto = frame[ETH_HLEN + 9]!;
    h = fnv(h, frame, ETH_HLEN + 12, ETH_HLEN + 20);
    const fragOffset = ((frame[ETH_HLEN + 6]! & 0x1f) << 8) | frame[ETH_HLEN + 7]!;
    l4 = fragOffset === 0 && ihl >= 20 ? ETH_HLEN + ihl : -1;
  } else if (type === 0x86dd) {
    if (frame.length < ETH_HLEN + 40) return undefined;
    proto = frame[ETH_HLEN + 6]!;
    h = fnv(h, frame, ETH_HLEN + 8, ETH_HLEN + 40);
    l4 = ETH_HLEN + 40;
  } else {
    return undefined;
  }
  h = fnv1aByte(h, proto);
  if ((proto === 6 || proto === 17) && l4 >= 0 && frame.length >= l4 + 4)
    h = fnv(h, frame, l4, l4 + 4);
  return fmix32(h);
}

/**
 * The RX queue for `frame` among the usable ones.
 *
 * @param rx - Ring indices of the usable RX queues (not empty), in ascending order.
 */
export function pickRxQueue(frame: Uint8Array, rx: readonly number[]): number {
  if (rx.length === 1) return rx[0]!;
  const h = flowHash(frame);
  return h === undefined ? rx[0]! : rx[h % rx.length]!;
}

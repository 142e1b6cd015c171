// The tap guest link: a native tap device (in a network namespace) adapted to GuestLink.
import type { TapDevice } from '../../native/index.js';
import { completePartialChecksum } from '../../wire/checksum.js';
import { ETHERNET_HEADER_LEN, EtherType } from '../../wire/ethernet.js';
import { IPV4_HEADER_LEN, IpProtocol } from '../../wire/ipv4.js';
import { IPV6_HEADER_LEN } from '../../wire/ipv6.js';
import { TcpField } from '../../wire/tcp.js';
import { UdpField } from '../../wire/udp.js';
import { gsoPlaces, TAP_TSO_MAX } from './gso.js';
import type { GuestLink } from './types.js';

/** The kernel's MTU for a tap nobody set one on. */
const TAP_DEFAULT_MTU = 1500;

/**
 * The link properties a tap opened with or without offload has (what `tapLink` returns), for a
 * link that stands in for it (link/switchable.ts): an offloading tap takes partial checksums
 * and TCP frames up to 64 KiB, which it writes as segmentation-offload frames (link/gso.ts).
 */
export function tapLinkProps(offload: boolean): { checksumOffload: boolean; tsoMax?: number } {
  return offload ? { checksumOffload: true, tsoMax: TAP_TSO_MAX } : { checksumOffload: false };
}

/**
 * Adapts a native tap device to the GuestLink interface: a frame the kernel queue cannot take
 * is a drop (counted by the caller through `send`'s false).
 *
 * @param dev - An open tap.
 * @param opts.mtu - The tap's MTU (default: the kernel's, 1500): on an offloading tap, TCP
 *   frames longer than it go out as segmentation-offload frames cut to fit it.
 * @returns The link; `close()` closes the tap.
 */
export function tapLink(dev: TapDevice, opts: { mtu?: number } = {}): GuestLink {
  const mtu = opts.mtu ?? TAP_DEFAULT_MTU;
  // The checksum and gso places of one send, reused (the shim reads them before send returns).
  let places = new Uint16Array(2 * 64);
  let gso = new Uint16Array(3 * 64);
  return {
    kind: 'tap',
    ...tapLinkProps(dev.offload),
    consumesOnSend: true,
    framesTransient: dev.transient,
    send(frames, partialChecksum) {
      try {
        let csum: Uint16Array | undefined;
        let seg: Uint16Array | undefined;
        if (partialChecksum && dev.offload) {
          if (places.length < 2 * frames.length) {
            places = new Uint16Array(2 * frames.length);
            gso = new Uint16Array(3 * frames.length);
          }
          csum = checksumPlaces(frames, places);
          if (gsoPlaces(frames, csum, mtu, gso)) seg = gso;
        }
        return dev.send(frames, csum, seg) === frames.length;
      } catch {
        return false;
      }
    },
    onFrames(listener) {
      dev.onFrames((frames, vnet) => listener(frames, vnet && offloadedChecksums(frames, vnet)));
    },
    onDrain() {
      // tap writes never queue: frames the kernel cannot take are dropped at once
    },
    close() {
      dev.close();
      return Promise.resolve();
    },
  };
}

/**
 * What an offloading tap's virtio_net_hdr says about checksums: TCP and UDP with a partial
 * checksum are marked trusted (the translators and services terminate them and never forward
 * the checksum; summing a 64 KiB datagram twice, to complete and then verify it, was a third of
 * the guest→host UDP profile); other partial checksums are completed here, so they verify.
 */
export function offloadedChecksums(frames: Uint8Array[], vnet: Uint16Array): Uint8Array {
  const trusted = new Uint8Array(frames.length);
  for (let i = 0; i < frames.length; i++) {
    const flags = vnet[3 * i]!;
    if (!(flags & 1)) continue; // VIRTIO_NET_HDR_F_NEEDS_CSUM
    const start = vnet[3 * i + 1]!;
    const offset = vnet[3 * i + 2]!;
    if (offset === TcpField.CHECKSUM || offset === UdpField.CHECKSUM) trusted[i] = 1;
    else completePartialChecksum(frames[i]!, start, offset);
  }
  return trusted;
}

/**
 * Where the partial checksum of each frame bindery built sits, for the virtio_net_hdr the shim
 * writes in front of it (virtio 1.2 §5.1.6.2: csum_start counts from the frame's first byte,
 * csum_offset from csum_start): (csum_start, csum_offset) per frame, (0, 0) for a frame with no
 * TCP or UDP checksum to finish. Frames here are ours: untagged Ethernet, IPv4 with its header
 * length, IPv6 without extension headers (the translators emit none).
 *
 * @param into - Where to write (at least two entries per frame); a new array when omitted.
 */
export function checksumPlaces(
  frames: readonly Uint8Array[],
  into: Uint16Array = new Uint16Array(frames.length * 2),
): Uint16Array {
  const out = into;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    out[2 * i] = 0;
    out[2 * i + 1] = 0;
    if (f.length < ETHERNET_HEADER_LEN + IPV4_HEADER_LEN) continue;
    const type = (f[12]! << 8) | f[13]!;
    let start: number;
    let proto: number;
    if (type === EtherType.Ipv4) {
      start = ETHERNET_HEADER_LEN + (f[ETHERNET_HEADER_LEN]! & 15) * 4;
      proto = f[ETHERNET_HEADER_LEN + 9]!;
    } else if (type === EtherType.Ipv6 && f.length >= ETHERNET_HEADER_LEN + IPV6_HEADER_LEN) {
      start = ETHERNET_HEADER_LEN + IPV6_HEADER_LEN;
      proto = f[ETHERNET_HEADER_LEN + 6]!;
    } else {
      continue;
    }
    const offset =
      proto === IpProtocol.Tcp
        ? TcpField.CHECKSUM
        : proto === IpProtocol.Udp
          ? UdpField.CHECKSUM
          : 0;
    if (offset === 0 || start + offset + 2 > f.length) continue;
    out[2 * i] = start;
    out[2 * i + 1] = offset;
  }
  return out;
}

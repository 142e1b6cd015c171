// TCP segmentation offload toward the guest: the virtio_net_hdr gso fields of frames bindery built past the MTU.
//
// Theory of operation. On a link with `GuestLink.tsoMax` the TCP engine builds frames of up to
// 64 KiB whatever the MTU (flow/tcp/to-guest.ts peekSegments). Each TCP frame longer than the
// MTU plus the Ethernet header is written once, with a virtio_net_hdr (virtio 1.2 §5.1.6.2)
// that says how to cut it into segments that fit the MTU:
//   gso_type  VIRTIO_NET_HDR_GSO_TCPV4 (1) or _TCPV6 (4), from the frame's EtherType;
//   gso_size  payload bytes per segment: MTU − IP header − TCP header (options included), so
//             each segment (RFC 9293 §3.7.1: segment size ≤ MTU − headers) fits the MTU;
//   hdr_len   Ethernet + IP + TCP header bytes (the part each segment repeats);
// with VIRTIO_NET_HDR_F_NEEDS_CSUM and the partial-checksum places (checksumPlaces), as the
// kernel requires for TCP GSO. A namespace's stack takes the frame as one GRO-like super-packet;
// a guest behind a bridge or QEMU gets it segmented by the kernel.
//
// The kernel refuses a header it does not like with EINVAL on write() (Linux
// include/linux/virtio_net.h virtio_net_hdr_to_skb, drivers/net/tun.c): gso_size 0, csum_offset
// other than the TCP checksum's for TCPV4/6, headers past the frame's end, hdr_len > length.
// gsoPlaces marks only frames where none of that can happen — a TCP frame whose checksum is
// partial, whose IP and TCP headers lie inside it and whose segments carry at least one byte —
// and leaves every other frame as it was (type 0: written as one frame, as before).
import { ETHERNET_HEADER_LEN, EtherType } from '../../wire/ethernet.js';
import { TcpField } from '../../wire/tcp.js';

/** virtio_net_hdr gso_type values (virtio 1.2 §5.1.6). */
export const GsoType = {
  NONE: 0,
  TCPV4: 1,
  TCPV6: 4,
} as const;

/** The largest frame an offloading tap takes from the TCP engine: 64 KiB of IP packet. */
export const TAP_TSO_MAX = 65535 + ETHERNET_HEADER_LEN;

/** Smallest TCP header (no options). */
const TCP_MIN_HEADER = 20;

/**
 * The gso fields for each frame: (gso_type, gso_size, hdr_len), (0, 0, 0) for a frame sent as
 * is. A frame is segmented when it is longer than `mtu` + the Ethernet header, carries TCP and
 * its checksum is partial at the TCP checksum's place (`csum`, as checksumPlaces wrote it).
 *
 * @param frames - Frames bindery built (untagged Ethernet; IPv6 without extension headers).
 * @param csum - (csum_start, csum_offset) per frame, offset 0 for a complete checksum.
 * @param mtu - The link's MTU (IP packet bytes).
 * @param into - Where to write: at least three entries per frame (reused per send: no garbage).
 * @returns Whether any frame was marked (when none was, the shim needs no gso array).
 */
export function gsoPlaces(
  frames: readonly Uint8Array[],
  csum: Uint16Array,
  mtu: number,
  into: Uint16Array,
): boolean {
  let any = false;
  const limit = mtu + ETHERNET_HEADER_LEN;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    into[3 * i] = GsoType.NONE;
    into[3 * i + 1] = 0;
    into[3 * i + 2] = 0;
    if (f.length <= limit || csum[2 * i + 1] !== TcpField.CHECKSUM) continue;
    const start = csum[2 * i]!;
    const type = (f[12]! << 8) | f[13]!;
    const gsoType =
      type === EtherType.Ipv4 ? GsoType.TCPV4 : type === EtherType.Ipv6 ? GsoType.TCPV6 : 0;
    if (gsoType === GsoType.NONE || start + TCP_MIN_HEADER > f.length) continue;
    const tcpHeader = (f[start + TcpField.DATA_OFFSET]! >>> 4) * 4;
    const hdrLen = start + tcpHeader;
    const size = mtu - (start - ETHERNET_HEADER_LEN) - tcpHeader;
    if (tcpHeader < TCP_MIN_HEADER || hdrLen > f.length || size <= 0) continue;
    into[3 * i] = gsoType;
    into[3 * i + 1] = size;
    into[3 * i + 2] = hdrLen;
    any = true;
  }
  return any;
}

// Which translator shard owns a frame from the guest (pure): one flow, one shard, decided by the frame alone.
//
// Theory of operation
// ===================
//
// With `--threads N` the translator runs N shards, each a whole daemon with its own flow table,
// host sockets and queue of a multiqueue tap (runner/shards.ts). The namespace's kernel picks
// the queue a guest frame arrives on (tun's flow steering: the queue last written with that
// flow, else a hash of its own), which is not always the shard that owns the flow, so every
// shard asks `shardOf` for each frame it reads and hands frames it does not own to their
// owner. Once the owner has written to the guest, tun steers the flow's later frames to the
// owner's queue: only a flow's first frames (and those after tun's entry expires, 3 s idle)
// cross between shards.
//
// The owner must be computable from any frame of the flow, with no shared table:
//   - TCP and UDP: a hash of (source address, destination address, protocol, ports), the guest's
//     side first as frames from the guest always carry it (flow/tuple-hash.ts), modulo N;
//   - ICMP and ICMPv6 echo requests: the same over the addresses and the echo identifier;
//   - shard 0 for everything else: ARP, NDP and other ICMP, DHCP and DHCPv6 (UDP to ports 67
//     and 547), fragments, IPv6 with extension headers, other EtherTypes. The link services
//     and their timers run there only.
//   - shard 0 for TCP and UDP from a guest port that an inbound forward (-t/-u) targets: the
//     forwards' listening sockets live on shard 0, so the flows they open do too, and every
//     later frame from the guest's side of such a flow comes from that port. The set is a
//     shared byte map (`InboundPorts`) that shard 0 rewrites when the forwards change; a guest
//     connection that happens to start from a forwarded port also lands on shard 0, which is
//     merely less parallel. With `-t all`, every non-ephemeral guest port is in the set.
// Hashing guest frames only (never frames to the guest) is what keeps this free of symmetry
// concerns: the owner of an inbound flow is fixed by the guest port, not by the hash.

import { FNV_OFFSET, fmix32, fnv1a, fnv1aByte } from '../flow/tuple-hash.js';

const ETH_HLEN = 14;
const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;
const DHCP_SERVER_PORT = 67;
const DHCPV6_SERVER_PORT = 547;

/**
 * Guest-side ports inbound forwards target: byte p is 1 when TCP port p is one, byte 65536 + p
 * when UDP port p is. Backed by a SharedArrayBuffer when shards in other threads read it.
 */
export type InboundPorts = Uint8Array;

/** An InboundPorts map with no port set (`shared`: over a SharedArrayBuffer). */
export function newInboundPorts(shared = false): InboundPorts {
  return new Uint8Array(shared ? new SharedArrayBuffer(2 * 65536) : new ArrayBuffer(2 * 65536));
}

/**
 * The shard (0 … shards−1) that owns a frame from the guest; 0 when `shards` is 1.
 *
 * @param frame - An Ethernet frame as the guest sent it.
 * @param inbound - The guest ports of inbound forwards (see InboundPorts).
 */
export function shardOf(frame: Uint8Array, shards: number, inbound: InboundPorts): number {
  if (shards <= 1 || frame.length < ETH_HLEN + 20) return 0;
  const type = (frame[12]! << 8) | frame[13]!;
  let h = FNV_OFFSET;
  let proto: number;
  let l4: number;
  if (type === 0x0800) {
    const ihl = (frame[ETH_HLEN]! & 0x0f) * 4;
    // Any fragment (more-fragments set or an offset): only shard 0 sees reassembly's pieces.
    if ((frame[ETH_HLEN + 6]! & 0x3f) !== 0 || frame[ETH_HLEN + 7]! !== 0 || ihl < 20) return 0;
    proto = frame[ETH_HLEN + 9]!;
    l4 = ETH_HLEN + ihl;
    h = fnv1a(h, frame, ETH_HLEN + 12, ETH_HLEN + 20);
  } else if (type === 0x86dd) {
    proto = frame[ETH_HLEN + 6]!;
    l4 = ETH_HLEN + 40;
    h = fnv1a(h, frame, ETH_HLEN + 8, ETH_HLEN + 40);
  } else {
    return 0;
  }
  if (frame.length < l4 + 8) return 0;
  h = fnv1aByte(h, proto);
  if (proto === TCP || proto === UDP) {
    const sport = (frame[l4]! << 8) | frame[l4 + 1]!;
    if (proto === UDP) {
      const dport = (frame[l4 + 2]! << 8) | frame[l4 + 3]!;
      if (dport === DHCP_SERVER_PORT || dport === DHCPV6_SERVER_PORT) return 0;
      if (inbound[65536 + sport] === 1) return 0;
    } else if (inbound[sport] === 1) {
      return 0;
    }
    h = fnv1a(h, frame, l4, l4 + 4);
  } else if (
    (proto === ICMP && frame[l4] === 8 && type === 0x0800) ||
    (proto === ICMPV6 && frame[l4] === 128 && type === 0x86dd)
  ) {
    h = fnv1a(h, frame, l4 + 4, l4 + 6); // the echo identifier
  } else {
    return 0;
  }
  return fmix32(h) % shards;
}

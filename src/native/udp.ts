// Typed wrapper of the shim's batched UDP calls (native/udp.c): flow sockets read with recvmmsg and written with sendmmsg.
//
// The sockets are TcpHandles (tcp.ts): close them with tcpClose and watch them with a TcpPoller.
// Data-path calls return counts, or −errno (−EAGAIN: nothing waiting / buffer full); opening
// throws a SyscallError.
import { native, type TcpHandle } from './index.js';

/** u32 words of udpRecvMany's metadata per datagram. */
export const UDP_META_WORDS = 8;
/** Metadata flag: the datagram was longer than its slot and was cut (MSG_TRUNC). */
export const UDP_FLAG_TRUNC = 1;

/**
 * A non-blocking UDP socket of `family`, bound to `bind` and/or connected to `peer` when given.
 *
 * @returns the socket and its local port (0 when neither was given).
 * @throws SyscallError (EADDRINUSE, ENETUNREACH, …), its message naming the address.
 */
export function udpSocket(
  family: 4 | 6,
  bind?: { readonly addr: string; readonly port: number },
  peer?: { readonly addr: string; readonly port: number },
): [TcpHandle, number] {
  return native().udpSocket(
    family,
    bind?.addr ?? null,
    bind?.port ?? 0,
    peer?.addr ?? null,
    peer?.port ?? 0,
  );
}

/**
 * Reads up to `max` waiting datagrams with one recvmmsg: datagram i is at `buf[i*slot …]`, its
 * metadata at `meta[8*i …]`: [stored length, flags (UDP_FLAG_TRUNC), source port, source family
 * (4, also for IPv4-mapped sources, or 6), then the source address bytes from byte 16 of the
 * entry]. `max` is capped by what fits `buf` and `meta`.
 *
 * @returns how many were read, or −errno (−EAGAIN: none waiting; −ECONNREFUSED: the connected
 *   peer's port was closed).
 */
export function udpRecvMany(
  s: TcpHandle,
  buf: Uint8Array,
  slot: number,
  meta: Uint32Array,
  max: number,
): number {
  return native().udpRecvMany(s, buf, slot, meta, max);
}

/**
 * Sends `bufs[0..count)` as one datagram each with sendmmsg, to the connected peer or to `to`.
 *
 * @returns how many the kernel took (fewer when its buffer filled: the rest are the caller's
 *   drops), or −errno when the first one failed otherwise.
 */
export function udpSendMany(
  s: TcpHandle,
  bufs: readonly Uint8Array[],
  count: number,
  family: 4 | 6,
  to?: { readonly addr: string; readonly port: number },
): number {
  return native().udpSendMany(s, bufs, count, family, to?.addr ?? null, to?.port ?? 0);
}

// virtio-net over split virtqueues: frames out of the TX queue, frames into the RX queue (mergeable buffers), the virtio_net_hdr.
//
// virtio 1.2 §5.1.6: every buffer starts with struct virtio_net_hdr — u8 flags (NEEDS_CSUM 1),
// u8 gso_type, le16 hdr_len, le16 gso_size, le16 csum_start, le16 csum_offset and, with
// VERSION_1 or MRG_RXBUF, le16 num_buffers (12 bytes; 10 otherwise). TX (§5.1.6.2): the driver's
// chain holds the header then the frame, spread over any number of readable buffers. RX
// (§5.1.6.3–4): with MRG_RXBUF one frame may fill several chains (num_buffers of them, each
// returned to the used ring with the bytes written into it); without it, one chain must hold
// the whole frame. GSO (gso.ts): a TX frame with gso_type TCPV4/TCPV6 is taken whole when
// HOST_TSO4/6 was negotiated, any other GSO frame (or a malformed one) is dropped and counted;
// RX frames carry the GSO fields the link gives `putRx`.
import { checkTxGso, type RxGso } from './gso.js';
import type { GuestMemory, SplitQueue } from './virtqueue.js';

/** The largest frame either way: 64 KiB plus an Ethernet header (passt's limit too). */
export const MAX_FRAME = 65535 + 14;
const NEEDS_CSUM = 1;

/** What the net layer counts (the link adds them to its counters). */
export interface NetCounters {
  txFrames: number;
  txBadChain: number;
  txBadFrame: number;
  rxFrames: number;
  rxNoRoom: number;
  rxBadChain: number;
  /** TX frames taken with gso_type TCPV4/TCPV6 (HOST_TSO). */
  txGso: number;
  /** TX frames dropped for their GSO fields (not negotiated, UDP, ECN, malformed). */
  txBadGso: number;
  /** RX frames written with GSO fields (GUEST_TSO). */
  rxGso: number;
  /** RX frames past the MTU cut into segments for a driver without GUEST_TSO (the segments). */
  rxSegmented: number;
}

export function newNetCounters(): NetCounters {
  return {
    txFrames: 0,
    txBadChain: 0,
    txBadFrame: 0,
    rxFrames: 0,
    rxNoRoom: 0,
    rxBadChain: 0,
    txGso: 0,
    txBadGso: 0,
    rxGso: 0,
    rxSegmented: 0,
  };
}

/** One frame from the guest and its checksum request (start, offset; start -1: none). */
export interface TxFrame {
  readonly frame: Uint8Array;
  readonly csumStart: number;
  readonly csumOffset: number;
}

/**
 * Takes every chain the driver made available on a TX queue, copies each frame out (the
 * guest may reuse its buffers as soon as they are used), and returns the chains.
 *
 * @param hdrLen - 12 or 10 (see the header comment).
 * @param max - Most frames to take now (the rest wait for the next call).
 * @param acceptGso - Mask of gso types taken (gso.ts `gsoBit`; HOST_TSO4/6 negotiated).
 * @returns The frames; `notify` says whether to interrupt the driver.
 */
export function drainTx(
  q: SplitQueue,
  mem: GuestMemory,
  hdrLen: number,
  counters: NetCounters,
  max = 256,
  acceptGso = 0,
): { frames: TxFrame[]; notify: boolean } {
  const frames: TxFrame[] = [];
  let returned = 0;
  while (frames.length < max) {
    const c = q.pop(mem);
    if (c === undefined) break;
    returned++;
    if ('error' in c) {
      counters.txBadChain++;
      q.push(c.head, 0);
      if (q.broken) break;
      continue;
    }
    let total = 0;
    for (const b of c.out) total += b.length;
    q.push(c.head, 0);
    if (total < hdrLen + 14 || total > hdrLen + MAX_FRAME || c.out.length === 0) {
      counters.txBadFrame++;
      continue;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const b of c.out) {
      all.set(b, at);
      at += b.length;
    }
    const flags = all[0]!;
    const gsoType = all[1]!;
    if (gsoType !== 0) {
      const frame = all.subarray(hdrLen);
      const why = checkTxGso(
        frame,
        gsoType,
        all[4]! | (all[5]! << 8),
        all[2]! | (all[3]! << 8),
        acceptGso,
      );
      if (why !== undefined) {
        counters.txBadFrame++;
        counters.txBadGso++;
        continue;
      }
      counters.txGso++;
    }
    const csumStart = flags & NEEDS_CSUM ? all[6]! | (all[7]! << 8) : -1;
    const csumOffset = flags & NEEDS_CSUM ? all[8]! | (all[9]! << 8) : 0;
    counters.txFrames++;
    frames.push({ frame: all.subarray(hdrLen), csumStart, csumOffset });
  }
  q.armKick();
  const notify = returned > 0 ? q.flush() : false;
  return { frames, notify };
}

/**
 * Writes one frame into the RX queue: the header (num_buffers filled in) and the frame, over as
 * many chains as it takes with `mergeable`, else one. Nothing is published (call `q.flush()`).
 *
 * @param csum - (start, offset) of a partial checksum to flag NEEDS_CSUM, or undefined.
 * @param gso - The GSO fields (gso_type, hdr_len, gso_size) of a frame past the MTU.
 * @returns 'ok', 'full' (not enough buffers now: nothing consumed) or 'bad' (a bad chain was
 *   returned unused and counted; try again).
 */
export function putRx(
  q: SplitQueue,
  mem: GuestMemory,
  frame: Uint8Array,
  hdrLen: number,
  mergeable: boolean,
  csum: readonly [number, number] | undefined,
  counters: NetCounters,
  gso?: RxGso,
): 'ok' | 'full' | 'bad' {
  const need = hdrLen + frame.length;
  const hdr = new Uint8Array(hdrLen);
  if (gso !== undefined) {
    hdr[1] = gso[0];
    hdr[2] = gso[1] & 0xff;
    hdr[3] = gso[1] >>> 8;
    hdr[4] = gso[2] & 0xff;
    hdr[5] = gso[2] >>> 8;
  }
  if (csum !== undefined) {
    hdr[0] = NEEDS_CSUM;
    hdr[6] = csum[0] & 0xff;
    hdr[7] = csum[0] >>> 8;
    hdr[8] = csum[1] & 0xff;
    hdr[9] = csum[1] >>> 8;
  }
  const used: [number, number][] = [];
  let written = 0;
  // Where header bytes 10 and 11 (num_buffers) landed: known only once the frame is placed.
  const nbAt: [Uint8Array, number][] = [];
  let bad = false;
  while (written < need) {
    if (used.length > 0 && !mergeable) break;
    const c = q.pop(mem);
    if (c === undefined) break;
    if ('error' in c || c.in.length === 0) {
      // Returned at once with nothing written (the driver drops it); the frame goes on.
      counters.rxBadChain++;
      bad = true;
      q.push(c.head, 0);
      if (q.broken) break;
      continue;
    }
    let chainLen = 0;
    for (const b of c.in) {
      if (written >= need) break;
      const n = Math.min(b.length, need - written);
      let off = 0;
      while (off < n) {
        const pos = written + off;
        if (pos < hdrLen) {
          const k = Math.min(n - off, hdrLen - pos);
          b.set(hdr.subarray(pos, pos + k), off);
          for (let j = pos; j < pos + k; j++) if (j >= 10) nbAt.push([b, off + j - pos]);
          off += k;
        } else {
          const k = n - off;
          b.set(frame.subarray(pos - hdrLen, pos - hdrLen + k), off);
          off += k;
        }
      }
      written += n;
      chainLen += n;
    }
    used.push([c.head, chainLen]);
  }
  if (written < need) {
    if (bad) {
      // Chains were consumed around the bad one: return them all empty and drop the frame.
      for (const [head] of used) q.push(head, 0);
      return 'bad';
    }
    q.unpop(used.length);
    counters.rxNoRoom++;
    return 'full';
  }
  const nb = used.length;
  if (nbAt[0]) nbAt[0][0][nbAt[0][1]] = nb & 0xff;
  if (nbAt[1]) nbAt[1][0][nbAt[1][1]] = nb >>> 8;
  for (const [head, len] of used) q.push(head, len);
  counters.rxFrames++;
  if (gso !== undefined) counters.rxGso++;
  return 'ok';
}

// Finds, in a capture, the RSTs a TCP end sends by the rules after its socket is gone: a crossing of its last retransmission with our ACK, not a fault.
//
// The case: the guest closes second (it got our FIN first, so it sits in LAST-ACK after sending
// its own FIN). Its tail-loss probe (a retransmission of its last segment, FIN included) crosses
// our ACK of that FIN. The ACK closes its socket (RFC 9293 §3.10.7.4, LAST-ACK); the probe
// reaches us, and a segment wholly below RCV.NXT gets an ACK back (§3.10.7.4, "If a segment is
// not acceptable, an acknowledgment should be sent in reply"). That ACK finds no socket, so the
// guest answers with a RST whose SEQ is the ACK field it got (§3.10.7.1). Linux's TIME-WAIT
// answers a repeated FIN the same way, so any peer in our place would draw the same RST.
import { TcpFlag } from '../../src/wire/tcp.js';

interface Segment {
  /** "address port" of the sender and the receiver. */
  readonly from: string;
  readonly to: string;
  readonly seq: number;
  readonly ack: number;
  readonly flags: number;
  readonly len: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The TCP segment in an untagged IPv4 or IPv6 (no extension headers) frame, or undefined. */
function segmentOf(f: Uint8Array): Segment | undefined {
  const type = (f[12]! << 8) | f[13]!;
  let at: number;
  let src: Uint8Array;
  let dst: Uint8Array;
  let l4Len: number;
  if (type === 0x0800 && f.length >= 34 && f[23] === 6) {
    at = 14 + (f[14]! & 15) * 4;
    src = f.subarray(26, 30);
    dst = f.subarray(30, 34);
    l4Len = ((f[16]! << 8) | f[17]!) - (at - 14);
  } else if (type === 0x86dd && f.length >= 54 && f[20] === 6) {
    at = 54;
    src = f.subarray(22, 38);
    dst = f.subarray(38, 54);
    l4Len = (f[18]! << 8) | f[19]!;
  } else return undefined;
  if (f.length < at + 20) return undefined;
  const u32 = (o: number): number =>
    ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) >>> 0;
  return {
    from: `${hex(src)} ${(f[at]! << 8) | f[at + 1]!}`,
    to: `${hex(dst)} ${(f[at + 2]! << 8) | f[at + 3]!}`,
    seq: u32(at + 4),
    ack: u32(at + 8),
    flags: f[at + 13]!,
    len: l4Len - (f[at + 12]! >> 4) * 4,
  };
}

/**
 * The 1-based numbers (as tshark counts them) of the frames in `frames` that are RSTs of a
 * socket already closed by the rules: the sender closed second (the other end's FIN came
 * first), its RST's SEQ is the sequence number just past its FIN, and the other end had
 * already acknowledged exactly that FIN before the RST.
 */
export function closedSocketResets(frames: readonly Uint8Array[]): Set<number> {
  /** Per direction ("from>to"): where its FIN ends and at which frame, and the ACKs it sent. */
  const sides = new Map<string, { fin?: { end: number; at: number }; acks: Set<number> }>();
  const side = (k: string) => {
    let v = sides.get(k);
    if (v === undefined) sides.set(k, (v = { acks: new Set() }));
    return v;
  };
  const out = new Set<number>();
  frames.forEach((f, i) => {
    const s = segmentOf(f);
    if (s === undefined) return;
    const me = `${s.from}>${s.to}`;
    const peer = `${s.to}>${s.from}`;
    if ((s.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN) {
      // A new connection on the same ports: forget the last one's.
      sides.delete(me);
      sides.delete(peer);
    }
    const mine = side(me);
    if ((s.flags & TcpFlag.RST) !== 0) {
      const theirs = side(peer);
      if (
        mine.fin !== undefined &&
        theirs.fin !== undefined &&
        theirs.fin.at < mine.fin.at &&
        s.seq === mine.fin.end &&
        theirs.acks.has(mine.fin.end)
      )
        out.add(i + 1);
      return;
    }
    if ((s.flags & TcpFlag.ACK) !== 0) mine.acks.add(s.ack);
    if ((s.flags & TcpFlag.FIN) !== 0 && mine.fin === undefined)
      mine.fin = { end: (s.seq + s.len + 1) >>> 0, at: i };
  });
  return out;
}

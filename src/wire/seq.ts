// TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): never compare sequence numbers with raw < or -.

/** a + n mod 2^32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** Signed distance b − a in (−2^31, 2^31]: positive when b is after a. */
export function seqDiff(b: number, a: number): number {
  return (b - a) | 0;
}

/** a < b in sequence space. */
export function seqLt(a: number, b: number): boolean {
  return seqDiff(b, a) > 0;
}

/** a ≤ b in sequence space. */
export function seqLe(a: number, b: number): boolean {
  return seqDiff(b, a) >= 0;
}

/** a > b in sequence space. */
export function seqGt(a: number, b: number): boolean {
  return seqDiff(a, b) > 0;
}

/** a ≥ b in sequence space. */
export function seqGe(a: number, b: number): boolean {
  return seqDiff(a, b) >= 0;
}

/** The later of a and b. */
export function seqMax(a: number, b: number): number {
  return seqGe(a, b) ? a : b;
}

/** start ≤ x < start + len in sequence space (the acceptability test of RFC 9293 §3.10.7.4). */
export function seqInWindow(x: number, start: number, len: number): boolean {
  const d = (x - start) >>> 0;
  return d < len;
}

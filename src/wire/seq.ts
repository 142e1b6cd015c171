// TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): never compare sequence numbers with raw < or -.
//
// RFC 9293 §3.4: "It is essential to remember that the actual sequence number space is finite,
// though very large. This space ranges from 0 to 2^32 - 1. Since the space is finite, all
// arithmetic dealing with sequence numbers must be performed modulo 2^32."
//
// Every function takes and returns plain numbers. Inputs may be any integer (they are reduced
// with `>>> 0`); results that are sequence numbers are always in [0, 2^32). Two numbers exactly
// 2^31 apart are neither before nor after each other: that distance is ambiguous in the RFC too.

/** 2^32, the size of the sequence space. */
const SEQ_SPACE = 0x1_0000_0000;
/** 2^31: distances at or above this (unsigned) wrap to "before". */
const SEQ_HALF = 0x8000_0000;

/**
 * Sequence number `a` advanced by `n` octets, modulo 2^32.
 * @param a - A sequence number.
 * @param n - Octets to add (may be negative).
 * @returns (a + n) mod 2^32.
 */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * Signed distance from `b` to `a`: how far `a` is after `b` (negative when `a` is before `b`).
 * @param a - A sequence number.
 * @param b - A sequence number.
 * @returns a − b reduced to [−2^31, 2^31).
 */
export function seqDiff(a: number, b: number): number {
  const d = (a - b) >>> 0;
  return d >= SEQ_HALF ? d - SEQ_SPACE : d;
}

/**
 * `a` comes strictly before `b` in sequence space.
 * @returns true when 0 < (b − a) mod 2^32 < 2^31.
 */
export function seqLt(a: number, b: number): boolean {
  const d = (b - a) >>> 0;
  return d !== 0 && d < SEQ_HALF;
}

/**
 * `a` comes before `b` or equals it.
 * @returns true when (b − a) mod 2^32 < 2^31.
 */
export function seqLe(a: number, b: number): boolean {
  return (b - a) >>> 0 < SEQ_HALF;
}

/**
 * `a` comes strictly after `b`.
 * @returns seqLt(b, a).
 */
export function seqGt(a: number, b: number): boolean {
  return seqLt(b, a);
}

/**
 * `a` comes after `b` or equals it.
 * @returns seqLe(b, a).
 */
export function seqGe(a: number, b: number): boolean {
  return seqLe(b, a);
}

/**
 * The later of two sequence numbers.
 * @returns `a` when seqGe(a, b), else `b` (both reduced to [0, 2^32)).
 */
export function seqMax(a: number, b: number): number {
  return seqGe(a, b) ? a >>> 0 : b >>> 0;
}

/**
 * The earlier of two sequence numbers.
 * @returns `a` when seqLe(a, b), else `b` (both reduced to [0, 2^32)).
 */
export function seqMin(a: number, b: number): number {
  return seqLe(a, b) ? a >>> 0 : b >>> 0;
}

/**
 * `start ≤ x < start + len` in sequence space: the window test of
 * {@link https://www.rfc-editor.org/rfc/rfc9293#section-3.10.7.4 | RFC 9293 §3.10.7.4}
 * ("RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND"). A zero-length window holds nothing; the RFC's
 * special cases for zero windows and zero-length segments are the caller's.
 * @param x - The sequence number tested.
 * @param start - First sequence number of the window.
 * @param len - Window length in octets, 0 ≤ len < 2^32.
 * @returns true when x lies in the window.
 */
export function inWindow(x: number, start: number, len: number): boolean {
  return (x - start) >>> 0 < len;
}

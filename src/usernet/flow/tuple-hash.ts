// A fast 32-bit hash over a flow's header bytes (pure): FNV-1a, then murmur3's finalizer.
//
// FNV-1a alone is a poor modulus source: its low output bit is the parity of its input bytes'
// low bits, and Linux gives connect() even ports, so `h % 2` put nearly all flows in one place.
// The finalizer (fmix32) spreads every input bit over every output bit.

/** FNV-1a's 32-bit offset basis: the starting value of `fnv1a`. */
export const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** Folds bytes `b[from..to)` into FNV-1a state `h`. */
export function fnv1a(h: number, b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i]!, FNV_PRIME);
  return h;
}

/** Folds one byte value into FNV-1a state `h`. */
export function fnv1aByte(h: number, v: number): number {
  return Math.imul(h ^ (v & 0xff), FNV_PRIME);
}

/** murmur3's 32-bit finalizer: every input bit reaches every output bit; unsigned result. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

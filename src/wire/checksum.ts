// The Internet checksum (RFC 1071), IPv4/IPv6 pseudo-headers and incremental update (RFC 1624).
//
// Sums are kept as plain numbers: partial sums of 16-bit words may exceed 16 bits and are folded
// only at the end, so callers can chain `sum(…, sum(…))` over a pseudo-header, a header and a
// payload held in different buffers without copying them together.

/**
 * Adds the 16-bit big-endian words of `data` to `initial` (unfolded). An odd trailing byte is
 * padded with zero, as RFC 1071 §4.1 does. Chaining is only exact when every chunk except the
 * last has an even length.
 *
 * Fast path: the ones' complement sum is byte-order independent (RFC 1071 §2(B)), so the
 * 4-byte-aligned middle of the buffer is summed as native little-endian 32-bit words through a
 * Uint32Array, folded to 16 bits and byte-swapped once. This runs about twice as fast as
 * byte-wise reads (see bench/).
 */
export function sum16(data: Uint8Array, initial = 0): number {
  return sum16Range(data, 0, data.length, initial);
}

/**
 * The 32-bit view of the last ArrayBuffer summed: frames of one link come from one reused
 * buffer, so summing them allocates nothing (a new buffer costs one view, as it always did).
 * It keeps that one buffer alive until another is summed.
 */
let wordsOf: ArrayBufferLike | undefined;
let words32: Uint32Array = new Uint32Array(0);

function u32Over(buffer: ArrayBufferLike, first: number, count: number): Uint32Array {
  if (buffer !== wordsOf || first + count > words32.length) {
    wordsOf = buffer;
    words32 = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  }
  return words32;
}

/**
 * {@link sum16} over bytes [start, end) of `data`, without a subarray (the hot paths sum a
 * header or a datagram in place inside a frame).
 */
export function sum16Range(data: Uint8Array, start: number, end: number, initial = 0): number {
  const n = end - start;
  const at = data.byteOffset + start;
  const lead = (4 - (at & 3)) & 3;
  if (n < 64 || lead & 1) return sum16Bytes(data, start, end, initial);
  let acc = initial;
  if (lead === 2) acc += (data[start]! << 8) | data[start + 1]!;
  const words = (n - lead) >>> 2;
  const first = (at + lead) >>> 2;
  const u32 = u32Over(data.buffer, first, words);
  let le = 0;
  // Each word < 2^32; 2^20 of them stay below 2^53, so fold every 2^20 words.
  for (let k = first, last = first + words; k < last;) {
    const stop = Math.min(last, k + 0x100000);
    for (; k < stop; k++) le += u32[k]!;
    le = fold16(le);
  }
  acc += ((le & 0xff) << 8) | (le >>> 8);
  const rest = start + lead + words * 4;
  return rest < end ? sum16Bytes(data, rest, end, acc) : acc;
}

/** Byte-wise sum of big-endian words, for short or oddly aligned buffers. */
function sum16Bytes(data: Uint8Array, start: number, end: number, initial: number): number {
  let acc = initial;
  const even = start + ((end - start) & ~1);
  let i = start;
  // Four words per step. No folding needed inside: even 2^32 bytes of 0xff sum to < 2^53.
  for (; i + 8 <= even; i += 8) {
    acc +=
      ((data[i]! << 8) | data[i + 1]!) +
      ((data[i + 2]! << 8) | data[i + 3]!) +
      ((data[i + 4]! << 8) | data[i + 5]!) +
      ((data[i + 6]! << 8) | data[i + 7]!);
  }
  for (; i < even; i += 2) acc += (data[i]! << 8) | data[i + 1]!;
  if (even < end) acc += data[even]! << 8;
  return acc;
}

/** Folds a running sum to 16 bits (end-around carry). */
export function fold16(acc: number): number {
  let s = acc;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum field value for data whose running sum is `acc`: ~fold(acc). */
export function finish(acc: number): number {
  return ~fold16(acc) & 0xffff;
}

/** The Internet checksum of `data` (the value to store in the header). */
export function checksum(data: Uint8Array): number {
  return finish(sum16(data));
}

/** True when data that includes its own checksum field sums to 0xffff (RFC 1071 verify). */
export function verify(acc: number): boolean {
  return fold16(acc) === 0xffff;
}

/** Running sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1): src, dst, zero, proto, length. */
export function pseudoHeaderSum4(
  src: Uint8Array,
  dst: Uint8Array,
  protocol: number,
  length: number,
): number {
  return sum16(src) + sum16(dst) + protocol + length;
}

/** Running sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, upper-layer length, next header. */
export function pseudoHeaderSum6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  length: number,
): number {
  return sum16(src) + sum16(dst) + Math.floor(length / 0x10000) + (length & 0xffff) + nextHeader;
}

/**
 * Incremental update of a checksum field after one 16-bit word changed from `oldWord` to
 * `newWord`, per RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m').
 */
export function updateChecksum16(oldChecksum: number, oldWord: number, newWord: number): number {
  const s = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold16(s) & 0xffff;
}

/** Incremental update for a changed 32-bit value (e.g. an IPv4 address) as two word updates. */
export function updateChecksum32(oldChecksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum16(oldChecksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum16(c, oldValue & 0xffff, newValue & 0xffff);
}

/**
 * Completes a partial checksum, as a NIC does for CHECKSUM_PARTIAL (a tap's
 * VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at `start + offset` holds the pseudo-header sum, and
 * the checksum over everything from `start` to the end goes there.
 *
 * @param frame - the frame
 * @param start - where summing starts (the L4 header)
 * @param offset - the checksum field's offset from `start`
 * @returns false when the field lies outside the frame (nothing written)
 */
export function completePartialChecksum(frame: Uint8Array, start: number, offset: number): boolean {
  const at = start + offset;
  if (at + 2 > frame.length || start >= frame.length) return false;
  let c = finish(sum16(frame.subarray(start)));
  if (c === 0 && offset === 6) c = 0xffff; // UDP sends a computed zero as all ones (RFC 768)
  frame[at] = c >>> 8;
  frame[at + 1] = c & 0xff;
  return true;
}

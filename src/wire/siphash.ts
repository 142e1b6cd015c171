// SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed hash passt uses for RFC 6528 initial sequence numbers (pure).
//
// 64-bit words are kept as pairs of unsigned 32-bit halves, so no BigInt and no allocation:
// about a hundred integer operations per 8 bytes, a fraction of a microsecond for a 4-tuple
// (an HMAC through node:crypto costs several microseconds per connection).

/** A 128-bit SipHash key as four little-endian 32-bit words (k0 low, k0 high, k1 low, k1 high). */
export type SipKey = readonly [number, number, number, number];

/** The key from 16 bytes, as the reference implementation reads them (little endian). */
export function sipKey(bytes: Uint8Array): SipKey {
  if (bytes.length !== 16) throw new RangeError('a SipHash key is 16 bytes');
  const w = (i: number) =>
    (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
  return [w(0), w(4), w(8), w(12)];
}

/**
 * SipHash-2-4 of `data` under `key`.
 *
 * @returns The 64-bit result as [low 32 bits, high 32 bits].
 */
export function siphash24(key: SipKey, data: Uint8Array): [number, number] {
  // v0 = k0 ^ "somepseu", v1 = k1 ^ "dorandom", v2 = k0 ^ "lygenera", v3 = k1 ^ "tedbytes"
  let v0l = (key[0] ^ 0x70736575) >>> 0;
  let v0h = (key[1] ^ 0x736f6d65) >>> 0;
  let v1l = (key[2] ^ 0x6e646f6d) >>> 0;
  let v1h = (key[3] ^ 0x646f7261) >>> 0;
  let v2l = (key[0] ^ 0x6e657261) >>> 0;
  let v2h = (key[1] ^ 0x6c796765) >>> 0;
  let v3l = (key[2] ^ 0x79746573) >>> 0;
  let v3h = (key[3] ^ 0x74656462) >>> 0;

  const round = (): void => {
    let l: number, h: number, t: number;
    // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
    l = (v0l + v1l) >>> 0;
    v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0;
    v0l = l;
    h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
    v1l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1h = h;
    v1l = (v1l ^ v0l) >>> 0;
    v1h = (v1h ^ v0h) >>> 0;
    t = v0l;
    v0l = v0h;
    v0h = t;
    // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
    l = (v2l + v3l) >>> 0;
    v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0;
    v2l = l;
    h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
    v3l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3h = h;
    v3l = (v3l ^ v2l) >>> 0;
    v3h = (v3h ^ v2h) >>> 0;
    // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
    l = (v0l + v3l) >>> 0;
    v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0;
    v0l = l;
    h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
    v3l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3h = h;
    v3l = (v3l ^ v0l) >>> 0;
    v3h = (v3h ^ v0h) >>> 0;
    // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
    l = (v2l + v1l) >>> 0;
    v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0;
    v2l = l;
    h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
    v1l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1h = h;
    v1l = (v1l ^ v2l) >>> 0;
    v1h = (v1h ^ v2h) >>> 0;
    t = v2l;
    v2l = v2h;
    v2h = t;
  };

  const u32le = (i: number): number =>
    (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
  const len = data.length;
  const whole = len - (len % 8);
  const block = (ml: number, mh: number): void => {
    v3l = (v3l ^ ml) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    round();
    round();
    v0l = (v0l ^ ml) >>> 0;
    v0h = (v0h ^ mh) >>> 0;
  };
  for (let i = 0; i < whole; i += 8) block(u32le(i), u32le(i + 4));
  // The last block: the remaining bytes, and the length's low byte in the top byte.
  let ml = 0;
  let mh = ((len & 0xff) << 24) >>> 0;
  for (let i = whole; i < len; i++) {
    const k = i - whole;
    if (k < 4) ml = (ml | (data[i]! << (8 * k))) >>> 0;
    else mh = (mh | (data[i]! << (8 * (k - 4)))) >>> 0;
  }
  block(ml, mh);
  v2l = (v2l ^ 0xff) >>> 0;
  round();
  round();
  round();
  round();
  return [(v0l ^ v1l ^ v2l ^ v3l) >>> 0, (v0h ^ v1h ^ v2h ^ v3h) >>> 0];
}

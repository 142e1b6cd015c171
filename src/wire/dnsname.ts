// DNS domain names in wire format (RFC 1035 §3.1), with compression pointers (§4.1.4) when decoding.
import { type WireError, wireError } from './common.js';

/** Longest name on the wire, including the root label (RFC 1035 §2.3.4). */
export const MAX_NAME_WIRE = 255;

/** Encodes "a.example.com" (trailing dot optional) as labels; undefined when a label is empty or too long. */
export function encodeName(name: string): Uint8Array | undefined {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = trimmed === '' ? [] : trimmed.split('.');
  const bytes: number[] = [];
  for (const l of labels) {
    const b = new TextEncoder().encode(l);
    if (b.length === 0 || b.length > 63) return undefined;
    bytes.push(b.length, ...b);
  }
  bytes.push(0);
  return bytes.length > MAX_NAME_WIRE ? undefined : Uint8Array.from(bytes);
}

/**
 * Encodes a list of names back to back. With `compress`, a suffix already written is replaced by
 * a pointer (RFC 1035 §4.1.4) relative to the start of the list, as RFC 3397 option 119 allows.
 * Names that cannot be encoded are skipped.
 */
export function encodeNameList(names: readonly string[], compress: boolean): Uint8Array {
  const out: number[] = [];
  const seen = new Map<string, number>();
  for (const name of names) {
    const trimmed = (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
    if (encodeName(trimmed) === undefined) continue;
    const labels = trimmed === '' ? [] : trimmed.split('.');
    for (let i = 0; i <= labels.length; i++) {
      const suffix = labels.slice(i).join('.');
      if (i === labels.length) {
        out.push(0);
        break;
      }
      const at = compress ? seen.get(suffix) : undefined;
      if (at !== undefined && at < 0x3fff) {
        out.push(0xc0 | (at >>> 8), at & 0xff);
        break;
      }
      if (compress) seen.set(suffix, out.length);
      const b = new TextEncoder().encode(labels[i]!);
      out.push(b.length, ...b);
    }
  }
  return Uint8Array.from(out);
}

/**
 * Decodes the name at `offset` of `buf`, following compression pointers (relative to the start of
 * `buf`) with loop protection. Returns the dotted name (no trailing dot, "" for the root) and the
 * offset just after the name as it is stored at `offset`.
 */
export function decodeName(
  buf: Uint8Array,
  offset: number,
): { name: string; next: number } | WireError {
  const labels: string[] = [];
  let off = offset;
  let next = -1;
  let jumps = 0;
  let total = 1;
  for (;;) {
    if (off >= buf.length) return wireError('truncated');
    const len = buf[off]!;
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length) return wireError('truncated');
      if (next < 0) next = off + 2;
      if (++jumps > 64) return wireError('malformed');
      off = ((len & 0x3f) << 8) | buf[off + 1]!;
      continue;
    }
    if (len & 0xc0) return wireError('unsupported');
    if (off + 1 + len > buf.length) return wireError('truncated');
    total += len + 1;
    if (total > MAX_NAME_WIRE) return wireError('malformed');
    labels.push(new TextDecoder().decode(buf.subarray(off + 1, off + 1 + len)));
    off += 1 + len;
  }
  return { name: labels.join('.'), next };
}

/** Decodes names back to back until the end of `buf` (RFC 3397, RFC 8106 DNSSL, RFC 8415 §21.… lists). */
export function decodeNameList(buf: Uint8Array, allowTrailingZeros = false): string[] | WireError {
  const names: string[] = [];
  let off = 0;
  while (off < buf.length) {
    if (allowTrailingZeros && buf.subarray(off).every((b) => b === 0)) break;
    const r = decodeName(buf, off);
    if ('wireError' in r) return r;
    names.push(r.name);
    off = r.next;
  }
  return names;
}

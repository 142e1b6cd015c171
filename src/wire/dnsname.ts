// DNS domain names in wire format (RFC 1035 §3.1), with compression pointers (§4.1.4) for name lists.
//
// Names are handled as dotted text ("a.example.com", "" for the root). Labels are encoded as
// UTF-8 and decoded as UTF-8 (invalid bytes become U+FFFD). A label holding a '.' byte cannot be
// told apart from two labels in the dotted form, so decoding rejects it as 'malformed' (no host
// name or search domain has one; accepting it would re-emit a different name). Nothing here
// throws on untrusted bytes.
import { type WireError, wireError } from './common.js';

/** Longest name on the wire, including the root label (RFC 1035 §2.3.4: "255 octets or less"). */
export const MAX_NAME_WIRE = 255;

/** Longest label (RFC 1035 §2.3.4: "63 octets or less"). */
export const MAX_LABEL = 63;

/** Compression pointers carry a 14-bit offset (RFC 1035 §4.1.4). */
const MAX_POINTER_TARGET = 0x3fff;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: false });

/** The label's text, or undefined when it holds a '.' byte (the dotted form cannot carry it). */
function labelText(b: Uint8Array): string | undefined {
  return b.includes(0x2e) ? undefined : utf8Decoder.decode(b);
}

/** Splits dotted text into labels; a single trailing dot is optional, "" and "." are the root. */
function labelsOf(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? [] : trimmed.split('.');
}

/**
 * Encodes a name as uncompressed labels (RFC 1035 §3.1), ending with the root label.
 *
 * @param name - dotted name, trailing dot optional; "" or "." is the root
 * @returns the wire bytes, or undefined when a label is empty or longer than 63 octets, or the
 *   whole name is longer than 255 octets (RFC 1035 §2.3.4)
 */
export function encodeName(name: string): Uint8Array | undefined {
  const encoded = labelsOf(name).map((l) => utf8.encode(l));
  let len = 1;
  for (const b of encoded) {
    if (b.length === 0 || b.length > MAX_LABEL) return undefined;
    len += 1 + b.length;
  }
  if (len > MAX_NAME_WIRE) return undefined;
  const out = new Uint8Array(len);
  let off = 0;
  for (const b of encoded) {
    out[off++] = b.length;
    out.set(b, off);
    off += b.length;
  }
  out[off] = 0;
  return out;
}

/**
 * Encodes names back to back, as RFC 3397 (DHCP option 119) and RFC 3646 §4 (DHCPv6 option
 * 24) lists carry them.
 *
 * With `compress`, a suffix already written is replaced by a pointer (RFC 1035 §4.1.4) whose
 * offset is relative to the start of the list, which RFC 3397 §2 defines as the start of the
 * (concatenated) option data. Suffixes are compared case-insensitively, as DNS names
 * compare (RFC 1035 §2.3.3); the case of the first occurrence is kept. Names that
 * {@link encodeName} rejects are skipped, so the output is always a valid list.
 *
 * @param names - dotted names
 * @param compress - use compression pointers (only where the receiver expects them)
 * @returns the list's wire bytes
 */
export function encodeNameList(names: readonly string[], compress: boolean): Uint8Array {
  const out: number[] = [];
  const seen = new Map<string, number>();
  for (const name of names) {
    if (encodeName(name) === undefined) continue;
    const labels = labelsOf(name);
    let i = 0;
    for (; i < labels.length; i++) {
      const key = labels.slice(i).join('.').toLowerCase();
      const at = compress ? seen.get(key) : undefined;
      if (at !== undefined) {
        out.push(0xc0 | (at >>> 8), at & 0xff);
        break;
      }
      if (compress && out.length <= MAX_POINTER_TARGET) seen.set(key, out.length);
      const b = utf8.encode(labels[i]!);
      out.push(b.length);
      for (const x of b) out.push(x);
    }
    if (i === labels.length) out.push(0);
  }
  return Uint8Array.from(out);
}

/**
 * Decodes the whole of `d` as one uncompressed name that may be partial, as the DHCP Client FQDN
 * options carry it (RFC 4702 §2.3.1, RFC 4704 §4.2): a fully qualified name ends with the root
 * label, a partial one just stops.
 *
 * @param d - the name's bytes, exactly
 * @returns the dotted name with a trailing '.' when fully qualified ("" is an empty partial name),
 *   or 'malformed' for a pointer, a bad label (one holding '.' too) or bytes after the root label
 */
export function decodePartialName(d: Uint8Array): string | WireError {
  const labels: string[] = [];
  let off = 0;
  while (off < d.length) {
    const len = d[off]!;
    if (len === 0) {
      if (off + 1 !== d.length || d.length > MAX_NAME_WIRE) return wireError('malformed');
      return labels.join('.') + '.';
    }
    if (len > MAX_LABEL || off + 1 + len > d.length) return wireError('malformed');
    const text = labelText(d.subarray(off + 1, off + 1 + len));
    if (text === undefined) return wireError('malformed');
    labels.push(text);
    off += 1 + len;
  }
  return off + 1 > MAX_NAME_WIRE ? wireError('malformed') : labels.join('.');
}

/**
 * Encodes a name as {@link decodePartialName} reads it: with the root label when `name` ends
 * with '.', without it otherwise.
 *
 * @param name - dotted name; "" is the empty partial name
 * @returns the bytes, or undefined when {@link encodeName} rejects the name
 */
export function encodePartialName(name: string): Uint8Array | undefined {
  if (name === '') return new Uint8Array(0);
  const full = encodeName(name);
  if (!full) return undefined;
  return name.endsWith('.') ? full : full.subarray(0, full.length - 1);
}

/** A decoded name and the offset just after it as stored (after the pointer, if it ends in one). */
export interface DecodedName {
  readonly name: string;
  readonly next: number;
}

/**
 * Decodes the name at `offset` of `buf`, following compression pointers (RFC 1035 §4.1.4).
 *
 * A pointer's offset is relative to `base` (the start of the DNS message, or of the option data
 * for RFC 3397 lists). Loop protection: every pointer must point strictly before the start of the
 * run of labels it ends, so each jump moves backwards and decoding always terminates. Every
 * compressor that points at earlier occurrences satisfies this. The expanded name must fit the
 * 255-octet limit.
 *
 * @param buf - bytes holding the name
 * @param offset - where the name starts in `buf`
 * @param base - where pointer offsets count from (default 0)
 * @returns the dotted name (no trailing dot, "" for the root) and the offset just after the name
 *   as stored at `offset`; 'truncated' when it runs past the end, 'malformed' for a pointer loop,
 *   a pointer outside `buf`, an over-long name or a label holding '.', 'unsupported' for label
 *   types 0x40/0x80
 */
export function decodeName(buf: Uint8Array, offset: number, base = 0): DecodedName | WireError {
  const labels: string[] = [];
  let off = offset;
  let runStart = offset;
  let next = -1;
  let total = 1;
  for (;;) {
    if (off < 0 || off >= buf.length) return wireError('truncated');
    const len = buf[off]!;
    if (len === 0) {
      if (next < 0) next = off + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (off + 1 >= buf.length) return wireError('truncated');
      if (next < 0) next = off + 2;
      const target = base + (((len & 0x3f) << 8) | buf[off + 1]!);
      if (target >= runStart || target < base) return wireError('malformed');
      off = runStart = target;
      continue;
    }
    if (kind !== 0) return wireError('unsupported');
    if (off + 1 + len > buf.length) return wireError('truncated');
    total += len + 1;
    if (total > MAX_NAME_WIRE) return wireError('malformed');
    const text = labelText(buf.subarray(off + 1, off + 1 + len));
    if (text === undefined) return wireError('malformed');
    labels.push(text);
    off += 1 + len;
  }
  return { name: labels.join('.'), next };
}

/**
 * Decodes names stored back to back until the end of `buf`, with pointers relative to the start
 * of `buf` (RFC 3397 §2, RFC 8106 §5.2 DNSSL, RFC 3646 §4 with RFC 8415 §10).
 *
 * @param buf - the list's bytes, exactly
 * @param allowTrailingZeros - stop at zero padding (RFC 8106 DNSSL pads to 8 octets)
 * @returns the names, or the first name's error
 */
export function decodeNameList(buf: Uint8Array, allowTrailingZeros = false): string[] | WireError {
  const names: string[] = [];
  let off = 0;
  while (off < buf.length) {
    if (allowTrailingZeros && buf.subarray(off).every((b) => b === 0)) break;
    const r = decodeName(buf, off, 0);
    if ('wireError' in r) return r;
    names.push(r.name);
    off = r.next;
  }
  return names;
}

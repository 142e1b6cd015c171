// Shared pieces of the wire codecs: the error value, byte-order helpers and address formatting.
//
// Contract of every codec in src/wire (after smoltcp's wire module):
// - `XView.checked(buf)` returns a view or a WireError; once it returns a view, no accessor of
//   that view can read out of bounds, whatever the bytes are.
// - `parseX(view)` applies the protocol rules and returns a plain readonly `XRepr` or a WireError.
// - `emitX(repr, buf)` never throws when `buf.length === xBufferLen(repr)` (plus payload, where the
//   codec says so) and writes every byte of the header it owns.
// - Nothing here throws on untrusted bytes: errors are returned, so the caller counts and drops.

/** Why a frame could not be parsed; a small closed set so drop counters can be keyed by it. */
export type WireErrorKind = 'truncated' | 'malformed' | 'bad-checksum' | 'unsupported';

/** A parse failure. Preallocated per kind: returning one costs nothing on the hot path. */
export interface WireError {
  readonly wireError: true;
  readonly kind: WireErrorKind;
}

const ERRORS: Record<WireErrorKind, WireError> = {
  truncated: Object.freeze({ wireError: true, kind: 'truncated' }),
  malformed: Object.freeze({ wireError: true, kind: 'malformed' }),
  'bad-checksum': Object.freeze({ wireError: true, kind: 'bad-checksum' }),
  unsupported: Object.freeze({ wireError: true, kind: 'unsupported' }),
};

/** The shared WireError value of `kind`. */
export function wireError(kind: WireErrorKind): WireError {
  return ERRORS[kind];
}

/** True when `v` is a WireError (use to narrow `Repr | WireError`). */
export function isWireError(v: unknown): v is WireError {
  return typeof v === 'object' && v !== null && (v as { wireError?: unknown }).wireError === true;
}

/** Big-endian u16 at `off`. The caller has checked bounds. */
export function getU16(b: Uint8Array, off: number): number {
  return ((b[off]! << 8) | b[off + 1]!) >>> 0;
}

/** Big-endian u32 at `off`. The caller has checked bounds. */
export function getU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Writes big-endian u16 `v` at `off`. */
export function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** Writes big-endian u32 `v` at `off`. */
export function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** A MAC address as 6 bytes. */
export type Mac = Uint8Array;
/** An IPv4 address as 4 bytes. */
export type Ipv4Addr = Uint8Array;
/** An IPv6 address as 16 bytes. */
export type Ipv6Addr = Uint8Array;

/** "aa:bb:cc:dd:ee:ff" */
export function formatMac(m: Uint8Array): string {
  return Array.from(m, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Parses "aa:bb:cc:dd:ee:ff" (or with '-'); undefined when malformed. */
export function parseMac(s: string): Mac | undefined {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) return undefined;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const p = parts[i]!;
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) return undefined;
    out[i] = parseInt(p, 16);
  }
  return out;
}

/** Dotted quad. */
export function formatIpv4(a: Uint8Array): string {
  return `${a[0]}.${a[1]}.${a[2]}.${a[3]}`;
}

/** Parses a dotted quad; undefined when malformed. */
export function parseIpv4(s: string): Ipv4Addr | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/** RFC 5952 text form of an IPv6 address (lower case, longest zero run compressed). */
export function formatIpv6(a: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(getU16(a, i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Parses IPv6 text (with "::" and an optional trailing dotted quad); undefined when malformed. */
export function parseIpv6(s: string): Ipv6Addr | undefined {
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.') && lastColon >= 0) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    tail.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    text = text.slice(0, lastColon + 1) + (text.endsWith('::') ? '' : '0');
    if (!text.endsWith('::')) text = text.slice(0, -1).replace(/:$/, '');
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const toWords = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const p of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
      out.push(parseInt(p, 16));
    }
    return out;
  };
  const head = toWords(halves[0]!);
  const rest = halves.length === 2 ? toWords(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const total = head.length + rest.length + tail.length;
  let words: number[];
  if (halves.length === 2) {
    if (total > 7) return undefined;
    words = [...head, ...new Array<number>(8 - total).fill(0), ...rest, ...tail];
  } else {
    if (total !== 8) return undefined;
    words = [...head, ...tail];
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => putU16(out, i * 2, w));
  return out;
}

// pcap (libpcap classic format) writer and reader for Ethernet frames: captures and test fixtures.
import { getU16, getU32 } from './common.js';

/** LINKTYPE_ETHERNET */
export const LINKTYPE_ETHERNET = 1;
const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

/** One captured frame and its timestamp in microseconds since the epoch. */
export interface PcapRecord {
  readonly timeUs: number;
  readonly frame: Uint8Array;
}

/** The 24-byte global header (little-endian, microsecond timestamps). */
export function pcapHeader(snaplen = 262144, linktype = LINKTYPE_ETHERNET): Uint8Array {
  const b = new Uint8Array(24);
  const v = new DataView(b.buffer);
  v.setUint32(0, MAGIC_US, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true);
  v.setUint32(12, 0, true);
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linktype, true);
  return b;
}

/** The 16-byte record header for a frame of `len` bytes captured at `timeUs`. */
export function pcapRecordHeader(timeUs: number, len: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setUint32(0, Math.floor(timeUs / 1e6), true);
  v.setUint32(4, Math.floor(timeUs % 1e6), true);
  v.setUint32(8, len, true);
  v.setUint32(12, len, true);
  return b;
}

/** Bytes of a record header. */
export const PCAP_RECORD_HEADER_LEN = 16;

/**
 * Writes one record (header and frame) into `dst` at `off`, for writers that batch records in
 * one buffer; the caller made sure `PCAP_RECORD_HEADER_LEN + frame.length` bytes fit.
 *
 * @returns The offset after the record.
 */
export function putPcapRecord(
  dst: Uint8Array,
  off: number,
  timeUs: number,
  frame: Uint8Array,
): number {
  const v = new DataView(dst.buffer, dst.byteOffset + off, PCAP_RECORD_HEADER_LEN);
  const sec = Math.floor(timeUs / 1e6);
  v.setUint32(0, sec >>> 0, true);
  v.setUint32(4, Math.floor(timeUs - sec * 1e6), true);
  v.setUint32(8, frame.length, true);
  v.setUint32(12, frame.length, true);
  dst.set(frame, off + PCAP_RECORD_HEADER_LEN);
  return off + PCAP_RECORD_HEADER_LEN + frame.length;
}

/** A whole pcap file holding `records`, as one buffer. */
export function pcapFile(records: readonly PcapRecord[]): Uint8Array {
  const parts: Uint8Array[] = [pcapHeader()];
  for (const r of records) parts.push(pcapRecordHeader(r.timeUs, r.frame.length), r.frame);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Reads a classic pcap file (either byte order, µs or ns timestamps). Returns the records and
 * the link type, or undefined when the bytes are not a pcap file; a truncated last record is
 * ignored. Frames are views into `file`, not copies.
 */
export function readPcap(
  file: Uint8Array,
): { linktype: number; records: PcapRecord[] } | undefined {
  if (file.length < 24) return undefined;
  const le = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicLe = le.getUint32(0, true);
  const magicBe = getU32(file, 0);
  let little: boolean;
  let nanos: boolean;
  if (magicLe === MAGIC_US || magicLe === MAGIC_NS) {
    little = true;
    nanos = magicLe === MAGIC_NS;
  } else if (magicBe === MAGIC_US || magicBe === MAGIC_NS) {
    little = false;
    nanos = magicBe === MAGIC_NS;
  } else return undefined;
  const u32 = (off: number) => (little ? le.getUint32(off, true) : getU32(file, off));
  const linktype = little ? le.getUint16(20, true) : getU16(file, 22);
  const records: PcapRecord[] = [];
  let off = 24;
  while (off + 16 <= file.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    if (off + 16 + incl > file.length) break;
    const timeUs = sec * 1e6 + (nanos ? Math.floor(frac / 1000) : frac);
    records.push({ timeUs, frame: file.subarray(off + 16, off + 16 + incl) });
    off += 16 + incl;
  }
  return { linktype, records };
}

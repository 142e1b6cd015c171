// The vhost-user message codec (QEMU docs/interop/vhost-user.rst): header, the payloads bindery reads, the replies it writes.
//
// A message is a 12-byte header (u32 request, u32 flags, u32 payload size; little endian) and
// `size` payload bytes; fds travel beside the header as SCM_RIGHTS ancillary data. Flags: bits
// 0–1 the version (1), bit 2 "this is a reply", bit 3 "need reply" (REPLY_ACK). Everything here
// is pure: bytes in, a decoded value or an error string out, never a throw on peer input.

/** Header bytes before every payload. */
export const VHOST_USER_HDR_LEN = 12;
/** Largest payload bindery accepts (SET_MEM_TABLE with 8 regions is 8 + 8·32 bytes). */
export const VHOST_USER_MAX_PAYLOAD = 4096;
/** Memory regions one SET_MEM_TABLE may carry (VHOST_MEMORY_BASELINE_NREGIONS). */
export const VHOST_USER_MAX_REGIONS = 8;

/** Header flag bits. */
export const Flag = {
  VERSION: 0x1,
  VERSION_MASK: 0x3,
  REPLY: 0x4,
  NEED_REPLY: 0x8,
} as const;

/** Front-end requests bindery knows (vhost-user.rst "Front-end message types"). */
export const Req = {
  GET_FEATURES: 1,
  SET_FEATURES: 2,
  SET_OWNER: 3,
  RESET_OWNER: 4,
  SET_MEM_TABLE: 5,
  SET_LOG_BASE: 6,
  SET_LOG_FD: 7,
  SET_VRING_NUM: 8,
  SET_VRING_ADDR: 9,
  SET_VRING_BASE: 10,
  GET_VRING_BASE: 11,
  SET_VRING_KICK: 12,
  SET_VRING_CALL: 13,
  SET_VRING_ERR: 14,
  GET_PROTOCOL_FEATURES: 15,
  SET_PROTOCOL_FEATURES: 16,
  GET_QUEUE_NUM: 17,
  SET_VRING_ENABLE: 18,
  SEND_RARP: 19,
  NET_SET_MTU: 20,
} as const;

/** Request names for logs. */
export function requestName(req: number): string {
  for (const [k, v] of Object.entries(Req)) if (v === req) return k;
  return `request ${req}`;
}

/** Virtio and vhost feature bits bindery uses (virtio 1.2 §5.1.3, §6; vhost-user.rst). */
export const Feature = {
  NET_CSUM: 0,
  NET_GUEST_CSUM: 1,
  NET_GUEST_TSO4: 7,
  NET_GUEST_TSO6: 8,
  NET_GUEST_ECN: 9,
  NET_GUEST_UFO: 10,
  NET_HOST_TSO4: 11,
  NET_HOST_TSO6: 12,
  NET_HOST_ECN: 13,
  NET_HOST_UFO: 14,
  NET_MRG_RXBUF: 15,
  NET_MQ: 22,
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  PROTOCOL_FEATURES: 30,
  VERSION_1: 32,
} as const;

/** Protocol feature bits (vhost-user.rst "Protocol features"). */
export const ProtocolFeature = {
  MQ: 0,
  RARP: 2,
  REPLY_ACK: 3,
} as const;

/** A 64-bit feature mask with bit `n` set. */
export function bit(n: number): bigint {
  return 1n << BigInt(n);
}

/** TCP segmentation offload both ways (without ECN): offered unless turned off (gso.ts). */
export const TSO_FEATURES =
  bit(Feature.NET_GUEST_TSO4) |
  bit(Feature.NET_GUEST_TSO6) |
  bit(Feature.NET_HOST_TSO4) |
  bit(Feature.NET_HOST_TSO6);

/**
 * Features bindery offers: multiqueue, mergeable RX buffers, checksum offload and TCP
 * segmentation offload both ways.
 */
export const OFFERED_FEATURES =
  TSO_FEATURES |
  bit(Feature.NET_CSUM) |
  bit(Feature.NET_GUEST_CSUM) |
  bit(Feature.NET_MRG_RXBUF) |
  bit(Feature.NET_MQ) |
  bit(Feature.RING_INDIRECT_DESC) |
  bit(Feature.RING_EVENT_IDX) |
  bit(Feature.PROTOCOL_FEATURES) |
  bit(Feature.VERSION_1);

/** Protocol features bindery offers. */
export const OFFERED_PROTOCOL_FEATURES =
  bit(ProtocolFeature.MQ) | bit(ProtocolFeature.RARP) | bit(ProtocolFeature.REPLY_ACK);

/** A decoded header. */
export interface Header {
  readonly request: number;
  readonly flags: number;
  readonly size: number;
}

/** Decodes a header, or says why it is unusable (bad version, payload too large). */
export function decodeHeader(b: Uint8Array): Header | string {
  if (b.length < VHOST_USER_HDR_LEN) return 'short header';
  const v = new DataView(b.buffer, b.byteOffset, VHOST_USER_HDR_LEN);
  const request = v.getUint32(0, true);
  const flags = v.getUint32(4, true);
  const size = v.getUint32(8, true);
  if ((flags & Flag.VERSION_MASK) !== Flag.VERSION)
    return `bad version in flags 0x${flags.toString(16)}`;
  if (size > VHOST_USER_MAX_PAYLOAD) return `payload of ${size} bytes is too large`;
  return { request, flags, size };
}

/** A u64 that must fit a JS number exactly (addresses, sizes), or undefined. */
function u64(v: DataView, at: number): number | undefined {
  const x = v.getBigUint64(at, true);
  return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : undefined;
}

function view(p: Uint8Array): DataView {
  return new DataView(p.buffer, p.byteOffset, p.byteLength);
}

/** The u64 payload (features, SET_VRING_KICK/CALL/ERR's index and flags, SEND_RARP's MAC). */
export function decodeU64(p: Uint8Array): bigint | string {
  if (p.length < 8) return `payload of ${p.length} bytes, want a u64`;
  return view(p).getBigUint64(0, true);
}

/** A vring state: { index, num } (SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE). */
export interface VringState {
  readonly index: number;
  readonly num: number;
}

export function decodeVringState(p: Uint8Array): VringState | string {
  if (p.length < 8) return `payload of ${p.length} bytes, want a vring state`;
  const v = view(p);
  return { index: v.getUint32(0, true), num: v.getUint32(4, true) };
}

/** SET_VRING_ADDR: the rings as addresses in QEMU's own address space. */
export interface VringAddr {
  readonly index: number;
  readonly flags: number;
  readonly desc: number;
  readonly used: number;
  readonly avail: number;
  readonly log: number;
}

export function decodeVringAddr(p: Uint8Array): VringAddr | string {
  if (p.length < 40) return `payload of ${p.length} bytes, want a vring address`;
  const v = view(p);
  const desc = u64(v, 8);
  const used = u64(v, 16);
  const avail = u64(v, 24);
  const log = u64(v, 32) ?? 0;
  if (desc === undefined || used === undefined || avail === undefined)
    return 'vring address beyond 2^53';
  return { index: v.getUint32(0, true), flags: v.getUint32(4, true), desc, used, avail, log };
}

/** One SET_MEM_TABLE region. */
export interface MemRegionDesc {
  readonly guestAddr: number;
  readonly size: number;
  readonly userAddr: number;
  readonly mmapOffset: number;
}

/** SET_MEM_TABLE's regions (one fd each), checked for sizes and overlaps in guest space. */
export function decodeMemTable(p: Uint8Array): MemRegionDesc[] | string {
  if (p.length < 8) return 'short memory table';
  const v = view(p);
  const n = v.getUint32(0, true);
  if (n === 0 || n > VHOST_USER_MAX_REGIONS) return `${n} memory regions`;
  if (p.length < 8 + 32 * n) return `memory table of ${p.length} bytes for ${n} regions`;
  const out: MemRegionDesc[] = [];
  for (let i = 0; i < n; i++) {
    const at = 8 + 32 * i;
    const guestAddr = u64(v, at);
    const size = u64(v, at + 8);
    const userAddr = u64(v, at + 16);
    const mmapOffset = u64(v, at + 24);
    if (
      guestAddr === undefined ||
      size === undefined ||
      userAddr === undefined ||
      mmapOffset === undefined ||
      size === 0 ||
      guestAddr + size > Number.MAX_SAFE_INTEGER ||
      userAddr + size > Number.MAX_SAFE_INTEGER
    )
      return `region ${i} out of range`;
    for (const r of out)
      if (guestAddr < r.guestAddr + r.size && r.guestAddr < guestAddr + size)
        return `region ${i} overlaps another`;
    out.push({ guestAddr, size, userAddr, mmapOffset });
  }
  return out;
}

/** Encodes a message (a reply sets Flag.REPLY). */
export function encodeMessage(request: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(VHOST_USER_HDR_LEN + payload.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, request, true);
  v.setUint32(4, flags, true);
  v.setUint32(8, payload.length, true);
  out.set(payload, VHOST_USER_HDR_LEN);
  return out;
}

/** A reply carrying a u64. */
export function replyU64(request: number, value: bigint): Uint8Array {
  const p = new Uint8Array(8);
  new DataView(p.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  return encodeMessage(request, Flag.VERSION | Flag.REPLY, p);
}

/** A reply carrying a vring state. */
export function replyVringState(request: number, s: VringState): Uint8Array {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, s.index, true);
  v.setUint32(4, s.num, true);
  return encodeMessage(request, Flag.VERSION | Flag.REPLY, p);
}

// Split virtqueues over guest memory (virtio 1.2 §2.7): descriptor chains, avail/used rings, EVENT_IDX, memory-safe.
//
// Theory of operation. Guest memory is a handful of regions the front-end mapped for us
// (`GuestMemory`): every address the guest writes into a ring is translated through it, and a
// range that is not wholly inside one region is refused, so nothing here can reach outside the
// mapped bytes (the views are subarrays of the regions' ArrayBuffers; after an unmap they are
// detached and read as empty). Rings (§2.7.5–2.7.8): the descriptor table (16 bytes each: u64
// addr, u32 len, u16 flags, u16 next), the available ring (u16 flags, u16 idx, u16 ring[num],
// u16 used_event) written by the driver, and the used ring (u16 flags, u16 idx, {u32 id, u32
// len}[num], u16 avail_event) written by us. `pop` walks one chain from the next available head
// (§2.7.5.3: NEXT links within the table, INDIRECT points at a table of its own, §2.7.5.3.1 — not
// nested, not with NEXT), with a descriptor budget so a loop ends; a bad chain is reported with
// its head so the caller can return it (len 0) and count it. With EVENT_IDX (§2.7.7.2, §2.7.10)
// we interrupt the driver only when used.idx passes its used_event, and publish avail_event so
// it kicks us only when it passes what we consumed; without it, VRING_AVAIL_F_NO_INTERRUPT.
// All values are little endian (VIRTIO_F_VERSION_1).

/** Where the ring's addresses live: guest-physical (descriptors) or the front-end's own (rings). */
export type AddrSpace = 'guest' | 'user';

/** Guest memory as the back-end sees it. */
export interface GuestMemory {
  /**
   * The bytes at [addr, addr + len) of `space`, or undefined when they are not wholly inside
   * one mapped region.
   */
  translate(addr: number, len: number, space: AddrSpace): Uint8Array | undefined;
}

/** One mapped region. */
export interface Region {
  readonly guestAddr: number;
  readonly userAddr: number;
  readonly bytes: Uint8Array;
}

/** GuestMemory over a list of regions. */
export class RegionMemory implements GuestMemory {
  constructor(readonly regions: readonly Region[]) {}

  translate(addr: number, len: number, space: AddrSpace): Uint8Array | undefined {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(len) || addr < 0 || len < 0)
      return undefined;
    for (const r of this.regions) {
      const base = space === 'guest' ? r.guestAddr : r.userAddr;
      const size = r.bytes.length;
      if (addr >= base && addr - base + len <= size) {
        const at = addr - base;
        return r.bytes.subarray(at, at + len);
      }
    }
    return undefined;
  }
}

const DESC_F_NEXT = 1;
const DESC_F_WRITE = 2;
const DESC_F_INDIRECT = 4;
const AVAIL_F_NO_INTERRUPT = 1;

/**
 * A full memory barrier. The driver runs on another CPU and, like us, writes one ring index and
 * then reads the other side's event index (virtio 1.2 §2.7.7.2, §2.7.10: Linux's virtio_mb
 * between them). x86 may let a load pass an earlier store, so without a barrier we could read a
 * stale used_event after publishing used.idx (no interrupt, while the driver waits for one: with
 * the RX ring then empty no later publish comes, and the link is dead — seen under TSO's 64 KiB
 * frames) or a stale avail.idx after publishing avail_event (no kick). Atomics are sequentially
 * consistent: on x86 this is one locked instruction, which orders every earlier store before
 * every later load.
 */
const FENCE = new Int32Array(new SharedArrayBuffer(4));
function fence(): void {
  Atomics.add(FENCE, 0, 0);
}
/** Largest queue size (virtio 1.2 §2.7: 32768). */
export const MAX_QUEUE_SIZE = 32768;

/** Why a chain was refused. */
export type ChainError =
  | 'head' // the head index is past the table
  | 'next' // a next index is past the table
  | 'loop' // more descriptors than the table holds
  | 'addr' // a buffer outside guest memory
  | 'indirect' // a malformed indirect table (size, nesting, NEXT with INDIRECT)
  | 'order' // a device-readable buffer after a device-writable one
  | 'ring'; // the available index jumped by more than the queue size

/** One chain: its head (for the used ring) and its buffers. */
export interface Chain {
  readonly head: number;
  /** Device-readable buffers, in order. */
  readonly out: Uint8Array[];
  /** Device-writable buffers, in order. */
  readonly in: Uint8Array[];
}

/** The result of `pop`: a chain, nothing available, or a bad chain (head for returning it). */
export type PopResult = Chain | undefined | { readonly head: number; readonly error: ChainError };

function u16(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8)) >>> 0;
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** virtio 1.2 §2.7.10.1 vring_need_event: notify if new_idx passed event_idx since old_idx. */
export function needEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/** The ring addresses of SET_VRING_ADDR (front-end address space). */
export interface RingAddrs {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
}

/** A split virtqueue the device side of which we are. */
export class SplitQueue {
  private desc: Uint8Array = new Uint8Array(0);
  private avail: Uint8Array = new Uint8Array(0);
  private used: Uint8Array = new Uint8Array(0);
  /** Next available-ring entry to consume. */
  lastAvail = 0;
  /** used.idx as we will publish it. */
  private usedIdx = 0;
  /** used.idx when the driver was last told (EVENT_IDX). */
  private signalledUsed = 0;
  /** A structural failure (bad ring) stopped the queue until it is set up again. */
  broken = false;

  /**
   * @param num - Queue size (a power of two up to 32768).
   * @param eventIdx - VIRTIO_RING_F_EVENT_IDX was negotiated.
   * @param indirect - VIRTIO_RING_F_INDIRECT_DESC was negotiated.
   */
  constructor(
    readonly num: number,
    readonly eventIdx: boolean,
    readonly indirect: boolean,
  ) {}

  /**
   * Maps the rings through `mem`; false (and the queue unusable) if any is outside it.
   *
   * @param base - The first available entry to consume (SET_VRING_BASE).
   */
  attach(mem: GuestMemory, addrs: RingAddrs, base: number): boolean {
    const n = this.num;
    if (n === 0 || n > MAX_QUEUE_SIZE || (n & (n - 1)) !== 0) return false;
    const desc = mem.translate(addrs.desc, 16 * n, 'user');
    const avail = mem.translate(addrs.avail, 6 + 2 * n, 'user');
    const used = mem.translate(addrs.used, 6 + 8 * n, 'user');
    if (!desc || !avail || !used) return false;
    this.desc = desc;
    this.avail = avail;
    this.used = used;
    this.lastAvail = base & 0xffff;
    this.usedIdx = u16(used, 2);
    this.signalledUsed = this.usedIdx;
    this.broken = false;
    return true;
  }

  /** The rings' views are still mapped (they read as empty once unmapped). */
  get mapped(): boolean {
    return this.desc.length > 0 && this.avail.length > 0 && this.used.length > 0;
  }

  /** Entries the driver made available that we have not consumed. */
  available(): number {
    if (!this.mapped) return 0;
    return (u16(this.avail, 2) - this.lastAvail) & 0xffff;
  }

  /**
   * Takes the next available chain.
   *
   * @param mem - Guest memory (descriptors hold guest-physical addresses).
   */
  pop(mem: GuestMemory): PopResult {
    if (this.broken || !this.mapped) return undefined;
    const pending = this.available();
    if (pending === 0) return undefined;
    if (pending > this.num) {
      this.broken = true;
      return { head: -1, error: 'ring' };
    }
    const head = u16(this.avail, 4 + 2 * (this.lastAvail % this.num));
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (head >= this.num) return { head: -1, error: 'head' };
    const chain: Chain = { head, out: [], in: [] };
    const err = this.walk(mem, this.desc, this.num, head, chain, true);
    return err === undefined ? chain : { head, error: err };
  }

  /** Gives the last `n` popped entries back (nothing of them was used). */
  unpop(n: number): void {
    this.lastAvail = (this.lastAvail - n) & 0xffff;
  }

  private walk(
    mem: GuestMemory,
    table: Uint8Array,
    size: number,
    first: number,
    chain: Chain,
    top: boolean,
  ): ChainError | undefined {
    let i = first;
    for (let budget = size; ; budget--) {
      if (budget === 0) return 'loop';
      const at = 16 * i;
      const lo = u32(table, at);
      const hi = u32(table, at + 4);
      const len = u32(table, at + 8);
      const flags = u16(table, at + 12);
      const next = u16(table, at + 14);
      if (hi >= 0x200000) return 'addr'; // beyond 2^53
      const addr = hi * 0x100000000 + lo;
      if (flags & DESC_F_INDIRECT) {
        if (!this.indirect || !top || flags & DESC_F_NEXT) return 'indirect';
        if (len === 0 || len % 16 !== 0 || len / 16 > MAX_QUEUE_SIZE) return 'indirect';
        const sub = mem.translate(addr, len, 'guest');
        if (!sub) return 'addr';
        return this.walk(mem, sub, len / 16, 0, chain, false);
      }
      const buf = mem.translate(addr, len, 'guest');
      if (!buf) return 'addr';
      if (flags & DESC_F_WRITE) chain.in.push(buf);
      else if (chain.in.length > 0) return 'order';
      else chain.out.push(buf);
      if (!(flags & DESC_F_NEXT)) return undefined;
      if (next >= size) return 'next';
      i = next;
    }
  }

  /** Records that chain `head` was used, `len` bytes written into it (published by `flush`). */
  push(head: number, len: number): void {
    if (!this.mapped || head < 0) return;
    const at = 4 + 8 * (this.usedIdx % this.num);
    put32(this.used, at, head);
    put32(this.used, at + 4, len);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
  }

  /**
   * Publishes the used entries and asks the driver to kick us for what comes after what we
   * consumed (avail_event).
   *
   * @returns Whether the driver wants an interrupt now.
   */
  flush(): boolean {
    if (!this.mapped) return false;
    const n = this.num;
    if (this.eventIdx) put16(this.used, 4 + 8 * n, this.lastAvail);
    const old = u16(this.used, 2);
    put16(this.used, 2, this.usedIdx);
    // avail_event and used.idx are out before used_event (and, for the caller, avail.idx) is read.
    fence();
    if (old === this.usedIdx) return false;
    if (this.eventIdx) {
      const event = u16(this.avail, 4 + 2 * n);
      const notify = needEvent(event, this.usedIdx, this.signalledUsed);
      if (notify) this.signalledUsed = this.usedIdx;
      return notify;
    }
    return !(u16(this.avail, 0) & AVAIL_F_NO_INTERRUPT);
  }

  /** Publishes avail_event = what we consumed, so a kick comes for anything newer. */
  armKick(): void {
    if (this.eventIdx && this.mapped) put16(this.used, 4 + 8 * this.num, this.lastAvail);
    fence(); // before the caller looks at avail.idx again
  }

  /**
   * With EVENT_IDX: asks for a kick when the driver adds its *next* buffer, not when it has any
   * (a frame that needs more buffers than there are waits for more; avail_event = lastAvail
   * would then never fire, the driver being past it already). Call after `flush`, which resets
   * avail_event.
   *
   * @returns The avail index seen: if it moved by the time the caller looks again, the driver
   *   may have added buffers before avail_event was written, without a kick.
   */
  armKickNext(): number {
    if (!this.mapped) return 0;
    const idx = u16(this.avail, 2);
    if (this.eventIdx) put16(this.used, 4 + 8 * this.num, idx);
    fence(); // before the caller looks at avail.idx again
    return idx;
  }

  /** The driver's avail index (0 when unmapped). */
  get availIdx(): number {
    return this.mapped ? u16(this.avail, 2) : 0;
  }
}

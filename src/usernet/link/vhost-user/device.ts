// The vhost-user back-end of one connection: the front-end's messages applied to the device state (features, memory, rings).
//
// Theory of operation (QEMU docs/interop/vhost-user.rst). The front-end (QEMU) negotiates
// features (GET/SET_FEATURES, GET/SET_PROTOCOL_FEATURES), claims the device (SET_OWNER), sends
// the guest's memory (SET_MEM_TABLE: one fd per region, which we map), then per ring its size,
// addresses, first index, kick fd and call fd (SET_VRING_NUM/ADDR/BASE/KICK/CALL). A ring is
// *started* once it has a kick fd (or NOFD, which we refuse: we do not poll) and *enabled* by
// SET_VRING_ENABLE — or at once when VHOST_USER_F_PROTOCOL_FEATURES was not negotiated
// ("Starting and stopping rings"). GET_VRING_BASE stops a ring and answers the next index to
// consume. With REPLY_ACK negotiated, a message with NEED_REPLY that has no reply of its own gets
// a u64 reply (0 success, 1 failure). Queue 2k is the guest's RX and 2k+1 its TX of pair k
// (virtio 1.2 §5.1.2). With VIRTIO_NET_F_MQ (§5.1.6.5.5) and VHOST_USER_PROTOCOL_F_MQ, QEMU
// asks GET_QUEUE_NUM and sets up one vhost device per pair over this one connection (per-device
// requests — SET_OWNER, SET_MEM_TABLE — come once); the guest's control queue stays in QEMU,
// which turns its VQ_PAIRS_SET into SET_VRING_ENABLE of each pair's rings. Every ring has its
// own kick, call and EVENT_IDX state; a ring that is not enabled is never read or written.
//
// This module owns no syscalls: fds, mappings and eventfds go through `VhostSys`, so tests and
// the fuzzer drive it with plain memory. Nothing the peer sends can throw out of `handle`:
// every refusal is a counted, described `Fault`.
import {
  Feature,
  Flag,
  OFFERED_FEATURES,
  OFFERED_PROTOCOL_FEATURES,
  ProtocolFeature,
  Req,
  bit,
  decodeMemTable,
  decodeU64,
  decodeVringAddr,
  decodeVringState,
  replyU64,
  replyVringState,
  requestName,
  type Header,
  type VringAddr,
} from './protocol.js';
import { RegionMemory, SplitQueue, type Region } from './virtqueue.js';

/**
 * Queue pairs bindery serves at most (GET_QUEUE_NUM). Eight: Linux uses min(pairs, vCPUs), and
 * every pair served from the one JS thread costs three fds and a watch but adds no parallelism
 * of its own here (issue 17 shards them over worker threads); eight covers the pods KubeVirt
 * runs, and QEMU refuses `queues=` above this at connect, with a clear message.
 */
export const MAX_QUEUE_PAIRS = 8;
/** Rings bindery serves: an RX and a TX ring per pair. */
export const QUEUE_COUNT = 2 * MAX_QUEUE_PAIRS;
/** Index of the guest's first receive queue (frames to the guest) and transmit queue. */
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;

/** The syscalls the device needs, over fd handles `F` and mapping handles `M`. */
export interface VhostSys<F, M> {
  /** Maps `size` bytes at `offset` of a region fd; throws when it cannot. */
  mmap(fd: F, size: number, offset: number): { map: M; bytes: Uint8Array };
  /** Unmaps (views over the bytes read as empty afterwards). */
  unmap(map: M): void;
  close(fd: F): void;
  /** Calls `cb` whenever `fd` is readable, until the fd is closed. */
  watch(fd: F, cb: () => void): void;
  /** Reads an eventfd (clears the kick); ignores errors. */
  eventRead(fd: F): void;
  /** Signals an eventfd (the guest's interrupt). */
  eventWrite(fd: F): void;
}

/** One ring's state. */
interface Vring<F> {
  num: number;
  addr: VringAddr | undefined;
  base: number;
  kick: F | undefined;
  call: F | undefined;
  err: F | undefined;
  enabled: boolean;
  started: boolean;
  queue: SplitQueue | undefined;
}

/** What the device counts. */
export interface DeviceCounters {
  messages: number;
  badMessages: number;
  unknownRequests: number;
  memTables: number;
  /** Messages naming a ring past the ones served (2 · MAX_QUEUE_PAIRS). */
  unknownQueues: number;
}

/** What the device tells its owner. */
export interface DeviceEvents {
  /** A ring became usable or stopped; `ready` is whether both rings run now. */
  ringsChanged(ready: boolean): void;
  /** The guest kicked a queue. */
  kick(queue: number): void;
  /** The set of usable rings changed (bit i: ring i is started and enabled). */
  queuesChanged?(usable: number): void;
  /** A refused message or ring, for the log. */
  fault(what: string): void;
  /** SEND_RARP: the guest's MAC after a migration. */
  rarp?(mac: Uint8Array): void;
}

/** The back-end state of one front-end connection. */
export class VhostUserDevice<F, M> {
  features = 0n;
  protocolFeatures = 0n;
  private owned = false;
  private maps: M[] = [];
  memory: RegionMemory = new RegionMemory([]);
  private readonly rings: Vring<F>[] = [];
  readonly counters: DeviceCounters = {
    messages: 0,
    badMessages: 0,
    unknownRequests: 0,
    memTables: 0,
    unknownQueues: 0,
  };
  private wasReady = false;
  private wasUsable = 0;

  constructor(
    private readonly sys: VhostSys<F, M>,
    private readonly events: DeviceEvents,
    /** The features GET_FEATURES offers (OFFERED_FEATURES, or less: e.g. without TSO). */
    private readonly offered: bigint = OFFERED_FEATURES,
  ) {
    for (let i = 0; i < QUEUE_COUNT; i++) this.rings.push(freshRing());
  }

  has(f: number): boolean {
    return (this.features & bit(f)) !== 0n;
  }

  /** The virtio_net_hdr length the guest uses. */
  get hdrLen(): number {
    return this.has(Feature.VERSION_1) || this.has(Feature.NET_MRG_RXBUF) ? 12 : 10;
  }

  /** The queue `i` when it is started and enabled, else undefined. */
  queue(i: number): SplitQueue | undefined {
    const r = this.rings[i];
    return r && r.started && r.enabled && r.queue && !r.queue.broken ? r.queue : undefined;
  }

  /** Interrupts the guest for queue `i`. */
  notify(i: number): void {
    const r = this.rings[i];
    if (r?.call !== undefined) this.sys.eventWrite(r.call);
  }

  /**
   * Applies one message.
   *
   * @param fds - The fds that came with it; the device owns them (closes what it does not keep).
   * @returns The reply to send, if any.
   */
  handle(h: Header, payload: Uint8Array, fds: F[]): Uint8Array | undefined {
    this.counters.messages++;
    let result: Uint8Array | string | undefined | 'ok';
    try {
      result = this.apply(h, payload, fds);
    } catch (e) {
      result = `${requestName(h.request)}: ${(e as Error).message}`;
    }
    for (const fd of fds) this.sys.close(fd);
    fds.length = 0;
    const failed = typeof result === 'string' && result !== 'ok';
    if (failed) {
      this.counters.badMessages++;
      this.events.fault(result as string);
    }
    this.checkReady();
    if (result instanceof Uint8Array) return result;
    if (
      h.flags & Flag.NEED_REPLY &&
      (this.protocolFeatures & bit(ProtocolFeature.REPLY_ACK)) !== 0n
    )
      return replyU64(h.request, failed ? 1n : 0n);
    return undefined;
  }

  /** Takes the fd at `fds[0]` out of the list (the caller no longer closes it). */
  private takeFd(fds: F[]): F | undefined {
    return fds.length > 0 ? fds.shift() : undefined;
  }

  private ring(index: number): Vring<F> | string {
    const r = this.rings[index];
    if (r === undefined) this.counters.unknownQueues++;
    return r ?? `ring ${index} does not exist (${QUEUE_COUNT} queues)`;
  }

  private apply(h: Header, p: Uint8Array, fds: F[]): Uint8Array | string | 'ok' {
    switch (h.request) {
      case Req.GET_FEATURES:
        return replyU64(h.request, this.offered);
      case Req.SET_FEATURES: {
        const f = decodeU64(p);
        if (typeof f === 'string') return f;
        if ((f & ~this.offered) !== 0n) return `features 0x${f.toString(16)} not offered`;
        this.features = f;
        // Without protocol features rings are enabled as soon as they start.
        if (!this.has(Feature.PROTOCOL_FEATURES)) for (const r of this.rings) r.enabled = true;
        return 'ok';
      }
      case Req.GET_PROTOCOL_FEATURES:
        return replyU64(h.request, OFFERED_PROTOCOL_FEATURES);
      case Req.SET_PROTOCOL_FEATURES: {
        const f = decodeU64(p);
        if (typeof f === 'string') return f;
        if ((f & ~OFFERED_PROTOCOL_FEATURES) !== 0n)
          return `protocol features 0x${f.toString(16)} not offered`;
        this.protocolFeatures = f;
        return 'ok';
      }
      case Req.GET_QUEUE_NUM:
        return replyU64(h.request, BigInt(MAX_QUEUE_PAIRS));
      case Req.SET_OWNER:
        this.owned = true;
        return 'ok';
      case Req.RESET_OWNER:
        this.reset();
        return 'ok';
      case Req.SET_MEM_TABLE:
        return this.setMemTable(p, fds);
      case Req.SET_VRING_NUM: {
        const s = decodeVringState(p);
        if (typeof s === 'string') return s;
        const r = this.ring(s.index);
        if (typeof r === 'string') return r;
        if (s.num === 0 || s.num > 32768 || (s.num & (s.num - 1)) !== 0)
          return `queue size ${s.num} is not a power of two up to 32768`;
        r.num = s.num;
        return 'ok';
      }
      case Req.SET_VRING_ADDR: {
        const a = decodeVringAddr(p);
        if (typeof a === 'string') return a;
        const r = this.ring(a.index);
        if (typeof r === 'string') return r;
        r.addr = a;
        return this.attach(a.index);
      }
      case Req.SET_VRING_BASE: {
        const s = decodeVringState(p);
        if (typeof s === 'string') return s;
        const r = this.ring(s.index);
        if (typeof r === 'string') return r;
        r.base = s.num & 0xffff;
        if (r.queue) r.queue.lastAvail = r.base;
        return 'ok';
      }
      case Req.GET_VRING_BASE: {
        const s = decodeVringState(p);
        if (typeof s === 'string') return s;
        const r = this.ring(s.index);
        if (typeof r === 'string') return r;
        const next = r.queue ? r.queue.lastAvail : r.base;
        this.stopRing(r);
        r.base = next;
        return replyVringState(h.request, { index: s.index, num: next });
      }
      case Req.SET_VRING_KICK:
      case Req.SET_VRING_CALL:
      case Req.SET_VRING_ERR: {
        const v = decodeU64(p);
        if (typeof v === 'string') return v;
        const index = Number(v & 0xffn);
        const noFd = (v & 0x100n) !== 0n;
        const r = this.ring(index);
        if (typeof r === 'string') return r;
        const fd = noFd ? undefined : this.takeFd(fds);
        if (!noFd && fd === undefined) return `${requestName(h.request)} without an fd`;
        const slot =
          h.request === Req.SET_VRING_KICK
            ? 'kick'
            : h.request === Req.SET_VRING_CALL
              ? 'call'
              : 'err';
        const old = r[slot];
        if (old !== undefined) {
          if (slot === 'kick') r.started = false;
          this.sys.close(old);
        }
        r[slot] = fd;
        if (slot === 'kick') {
          if (fd === undefined) return 'polling rings (NOFD kick) is not supported';
          r.started = true;
          this.sys.watch(fd, () => {
            this.sys.eventRead(fd);
            this.events.kick(index);
          });
          const a = this.attach(index);
          // The guest may have queued buffers before the kick fd arrived.
          if (a === 'ok') this.events.kick(index);
          return a;
        }
        return 'ok';
      }
      case Req.SET_VRING_ENABLE: {
        const s = decodeVringState(p);
        if (typeof s === 'string') return s;
        const r = this.ring(s.index);
        if (typeof r === 'string') return r;
        r.enabled = s.num !== 0;
        if (r.enabled) this.events.kick(s.index);
        return 'ok';
      }
      case Req.SEND_RARP: {
        if (p.length < 6) return 'short SEND_RARP';
        this.events.rarp?.(p.slice(0, 6));
        return 'ok';
      }
      case Req.NET_SET_MTU:
        return 'ok';
      default:
        this.counters.unknownRequests++;
        return `unsupported ${requestName(h.request)}`;
    }
  }

  /** (Re)maps the rings of `index` if it has size and addresses (memory may come later). */
  private attach(index: number): string | 'ok' {
    const r = this.rings[index]!;
    if (r.addr === undefined || r.num === 0) return 'ok';
    if (this.memory.regions.length === 0) return 'ok';
    const q = new SplitQueue(
      r.num,
      this.has(Feature.RING_EVENT_IDX),
      this.has(Feature.RING_INDIRECT_DESC),
    );
    const base = r.queue ? r.queue.lastAvail : r.base;
    if (!q.attach(this.memory, r.addr, base)) {
      r.queue = undefined;
      return `ring ${index}'s addresses are outside guest memory`;
    }
    r.queue = q;
    return 'ok';
  }

  private setMemTable(p: Uint8Array, fds: F[]): string | 'ok' {
    const regions = decodeMemTable(p);
    if (typeof regions === 'string') return regions;
    if (fds.length !== regions.length)
      return `${regions.length} memory regions with ${fds.length} fds`;
    const maps: M[] = [];
    const mapped: Region[] = [];
    try {
      for (let i = 0; i < regions.length; i++) {
        const d = regions[i]!;
        const m = this.sys.mmap(fds[i]!, d.size, d.mmapOffset);
        maps.push(m.map);
        mapped.push({ guestAddr: d.guestAddr, userAddr: d.userAddr, bytes: m.bytes });
      }
    } catch (e) {
      for (const m of maps) this.sys.unmap(m);
      return `cannot map guest memory: ${(e as Error).message}`;
    }
    this.unmapAll();
    this.maps = maps;
    this.memory = new RegionMemory(mapped);
    this.counters.memTables++;
    // Rings already set up are re-translated in the new memory.
    for (let i = 0; i < this.rings.length; i++) {
      const r = this.rings[i]!;
      if (r.queue || r.addr) {
        const res = this.attach(i);
        if (res !== 'ok') this.events.fault(res);
      }
    }
    return 'ok';
  }

  private unmapAll(): void {
    for (const m of this.maps) this.sys.unmap(m);
    this.maps = [];
    this.memory = new RegionMemory([]);
  }

  private stopRing(r: Vring<F>): void {
    r.started = false;
    r.queue = undefined;
    if (r.kick !== undefined) this.sys.close(r.kick);
    r.kick = undefined;
  }

  private checkReady(): void {
    let usable = 0;
    for (let i = 0; i < this.rings.length; i++) if (this.queue(i)) usable |= 1 << i;
    if (usable !== this.wasUsable) {
      this.wasUsable = usable;
      this.events.queuesChanged?.(usable);
    }
    const ready = this.queue(RX_QUEUE) !== undefined && this.queue(TX_QUEUE) !== undefined;
    if (ready !== this.wasReady) {
      this.wasReady = ready;
      this.events.ringsChanged(ready);
    }
  }

  /** Forgets the owner, the rings and the memory (RESET_OWNER, or the connection ended). */
  reset(): void {
    for (const r of this.rings) {
      this.stopRing(r);
      for (const slot of ['call', 'err'] as const) {
        const fd = r[slot];
        if (fd !== undefined) this.sys.close(fd);
        r[slot] = undefined;
      }
      Object.assign(r, freshRing());
    }
    this.unmapAll();
    this.features = 0n;
    this.protocolFeatures = 0n;
    this.owned = false;
    this.checkReady();
  }

  /** Whether SET_OWNER was seen (for diagnostics). */
  get isOwned(): boolean {
    return this.owned;
  }
}

function freshRing<F>(): Vring<F> {
  return {
    num: 0,
    addr: undefined,
    base: 0,
    kick: undefined,
    call: undefined,
    err: undefined,
    enabled: false,
    started: false,
    queue: undefined,
  };
}
